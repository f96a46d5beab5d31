"""The managed (lifecycle) ``classifier`` node: the plain node's parts, brought up in steps.

- configure: parameters checked, the model loaded and checked, engine, outputs, ``swap_model``
  and diagnostics. A refused model or configuration fails the transition (the reason in the
  log); the node stays unconfigured and may be configured again.
- activate: the decision publishers enabled, then the inputs (image subscriptions and, on the
  line, Detectionhdr): frames flow.
- deactivate: the inputs closed first, so no new frame is taken; every frame already taken is
  still decided and published; then the decision publishers disabled.
- cleanup, shutdown (from any state), error: the engine stopped, all configure made destroyed.

Thresholds, ``fail_safe_label`` and ``swap_model`` work while inactive and active; every
diagnostics status carries ``lifecycle_state``. ``threading_ws.launch.py managed:=true`` starts
it; a lifecycle manager, or ``ros2 lifecycle set /classifier configure`` then ``activate``,
brings it up.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.lifecycle import LifecycleNode, LifecyclePublisher, LifecycleState
from rclpy.lifecycle import TransitionCallbackReturn as Return
from rclpy.publisher import Publisher
from rclpy.service import Service

from cherry_classifier.core.engine import FrameJob, FrameResult
from cherry_classifier.node.classifier_node import ClassifierNode
from cherry_classifier.node.model_loading import ModelRefusedError

DRAIN_TIMEOUT_S = 30.0  # longest deactivate waits for the frames already taken


class InFlight:
    """What deactivation waits for: input callbacks still running, frames taken but not out."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._callbacks = 0
        self.frames_out = 0  # published or dropped

    @contextmanager
    def taking(self) -> Iterator[None]:
        with self._changed:
            self._callbacks += 1
        try:
            yield
        finally:
            with self._changed:
                self._callbacks -= 1
                self._changed.notify_all()

    def track(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(callback)
        def tracked(*args: Any) -> Any:
            with self.taking():
                return callback(*args)

        return tracked

    def frame_out(self) -> None:
        with self._changed:
            self.frames_out += 1
            self._changed.notify_all()

    def wait_idle(self, frames_in: Callable[[], int], timeout: float) -> bool:
        """Until no callback runs and every frame in is out; False: timed out."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self._callbacks == 0 and self.frames_out >= frames_in(), timeout
            )


class ManagedClassifierNode(ClassifierNode, LifecycleNode):
    """See the module docstring. ``ClassifierNode.__init__`` is not run: the transitions run
    its steps (``_configure``, ``_open_inputs``)."""

    START_WITHOUT_MODEL = False

    def __init__(self, **node_kwargs: Any) -> None:
        LifecycleNode.__init__(self, "classifier", **node_kwargs)
        self._active = False
        self._in_flight = InFlight()
        self._configured: set[Any] = set()  # publishers, services and timers configure made

    # -- transitions -------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> Return:
        self._in_flight = InFlight()  # the new engine counts its frames from zero
        before = self._entities()
        try:
            self._configure()
        except (ValueError, ModelRefusedError) as error:
            reason = str(error)
        except Exception as error:
            reason = f"internal error: {type(error).__name__}: {error}"
        else:
            self._configured = self._entities() - before
            self.get_logger().info("configured: activate to take frames")
            return Return.SUCCESS
        self._configured = self._entities() - before
        self._tear_down()
        self.get_logger().error(f"configure failed, still unconfigured: {reason}")
        return Return.FAILURE

    def on_activate(self, state: LifecycleState) -> Return:
        super().on_activate(state)  # decision publishers first: frames may come at once
        before = set(self.subscriptions)
        try:
            self._open_inputs()
        except ValueError as error:
            for subscription in set(self.subscriptions) - before:
                self.destroy_subscription(subscription)
            self._input_subscriptions = []
            super().on_deactivate(state)
            self.get_logger().error(f"activate failed, still inactive: {error}")
            return Return.FAILURE
        self._active = True
        self.get_logger().info("active: taking frames")
        return Return.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> Return:
        self._stop_taking_frames()
        self.get_logger().info("inactive: taking no frames")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> Return:
        self._tear_down()
        self.get_logger().info("cleaned up: unconfigured")
        return Return.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> Return:
        if self._active:
            self._stop_taking_frames()
        self._tear_down()
        self.get_logger().info(f"shut down from {state.label}")
        return Return.SUCCESS

    def on_error(self, state: LifecycleState) -> Return:
        self.get_logger().error(f"a transition from {state.label} failed: back to unconfigured")
        return self.on_shutdown(state)

    # -- steps -------------------------------------------------------------------------------
    def _stop_taking_frames(self) -> None:
        """Close the inputs, then wait until every frame taken is decided and published."""
        self._active = False
        for subscription in self._input_subscriptions:
            self.destroy_subscription(subscription)
        self._input_subscriptions = []
        if self._param("line_output"):
            self.destroy_service(self._detect_service)
        waiting = self._frames_in() - self._in_flight.frames_out
        if waiting:
            self.get_logger().info(f"deactivating: deciding {waiting} frame(s) already taken")
        if not self._in_flight.wait_idle(self._frames_in, DRAIN_TIMEOUT_S):
            left = self._frames_in() - self._in_flight.frames_out
            self.get_logger().warning(
                f"deactivating: {left} frame(s) not decided within {DRAIN_TIMEOUT_S:.0f} s "
                "are not published"
            )
        self._last_input.clear()  # no input, no stale-input warnings

    def _tear_down(self) -> None:
        """Stop the engine and destroy what configure made (also after a failed configure)."""
        self._active = False
        engine = getattr(self, "_engine", None)
        if engine is not None:
            engine.stop()
            self._engine = None
        for entity in self._configured:
            if isinstance(entity, LifecyclePublisher):
                self.destroy_lifecycle_publisher(entity)
            elif isinstance(entity, Publisher):
                self.destroy_publisher(entity)
            elif isinstance(entity, Service):
                self.destroy_service(entity)
            else:
                self.destroy_timer(entity)
        self._configured = set()
        with contextlib.suppress(ValueError):  # not added when configure failed early
            self.remove_on_set_parameters_callback(self._on_set_parameters)

    def _entities(self) -> set[Any]:
        return {*self.publishers, *self.services, *self.timers}

    def _frames_in(self) -> int:
        return sum(self._engine.stats.snapshot()["frames_in"].values())

    # -- the plain node's parts, lifecycle-aware ---------------------------------------------
    def _output_publisher(self, message_type: Any, topic: str, qos: Any) -> Any:
        return self.create_lifecycle_publisher(message_type, topic, qos)

    def _make_callback(self, topic: str, layer: str | None, compressed: bool):
        return self._in_flight.track(super()._make_callback(topic, layer, compressed))

    def _make_image_set_callback(self, topic: str):
        return self._in_flight.track(super()._make_image_set_callback(topic))

    def _on_detect(self, request: Any, response: Any) -> Any:
        with self._in_flight.taking():
            return super()._on_detect(request, response)

    def _publish_result(self, result: FrameResult) -> None:
        try:
            super()._publish_result(result)
        finally:
            self._in_flight.frame_out()

    def _on_drop(self, job: FrameJob, reason: str) -> None:
        try:
            super()._on_drop(job, reason)
        finally:
            self._in_flight.frame_out()

    def _diagnostics(self) -> DiagnosticArray:
        array = super()._diagnostics()
        state = "active" if self._active else "inactive"
        for status in array.status:
            status.values.append(KeyValue(key="lifecycle_state", value=state))
            if not self._active and status.level == DiagnosticStatus.OK:
                status.message = "inactive: takes no frames"
        return array
