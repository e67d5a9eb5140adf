"""
The node among other people's nodes, with real rclpy and DDS: lifecycle, QoS, diagnostics, exit.

- managed mode: real lifecycle service calls bring it up and down in order;
- ``input_qos`` BEST_AVAILABLE matches a reliable camera reliably and still takes a
  best-effort camera that starts after the node;
- frames lost before the node (gaps in the stamps) and the intrinsics' source are reported
  truthfully in the diagnostics;
- SIGINT and SIGTERM stop a loaded node cleanly, with exit status 0 and no traceback.
"""

import signal
import subprocess
import sys
import time

from defeat_ros.data.kitti_writer import images_uint8
from defeat_ros.data.street_world import render_sequence, WorldConfig
from defeat_ros.nets import ModelConfig, save_model
from defeat_ros.ros.depth_node import DepthNode
from defeat_ros.ros.log_throttle import LogThrottle
from defeat_ros.runtime.backends import cpu_model
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
import pytest
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import QoSPresetProfiles, ReliabilityPolicy
from ros_testing import image_message, Probe, publisher_matched, ros_context, spinning
from ros_testing import unique_namespace, wait_for, WAIT_S
from sensor_msgs.msg import Image
import torch
from untrained import untrained_model

pytestmark = pytest.mark.ros_graph  # a pytest process of their own: see pytest.ini

CONFIG = ModelConfig(feature_dims=8, height=64, width=96, encoder_width=16)
WORLD = WorldConfig(width=96, height=64, frames=6, seed=5)
START = 1_700_000_000.0
PERIOD_NS = 100_000_000


@pytest.fixture(scope='module')
def context():
    with ros_context() as context:
        yield context


@pytest.fixture(scope='module')
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    return save_model(untrained_model(CONFIG), tmp_path_factory.mktemp('model') / 'model')


@pytest.fixture(scope='module')
def images():
    return images_uint8(render_sequence(WORLD).images)


def make_node(context, model_dir, namespace, **overrides):
    values = {'model': str(model_dir), 'backend': 'pytorch', **overrides}
    return DepthNode(namespace=namespace, context=context,
                     parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])


def call(probe, service, request):
    """Call a service of the node under test and wait for its response."""
    future = service.call_async(request)
    assert wait_for(future.done), 'no response from the lifecycle service'
    return future.result()


def subscribed(probe, topic):
    return probe.node.count_subscribers(topic) > 0


def test_a_lifecycle_manager_brings_the_node_up_and_down_in_order(context, model_dir, images):
    namespace = unique_namespace('lifecycle')
    node = make_node(context, model_dir, namespace, autostart=False)
    probe = Probe(context, namespace)
    probe.listen(Image, 'depth/image')
    publisher = probe.node.create_publisher(Image, 'image', 10)
    change = probe.node.create_client(ChangeState, f'{namespace}/defeat/change_state')
    state = probe.node.create_client(GetState, f'{namespace}/defeat/get_state')

    def transition(transition_id):
        return call(probe, change, ChangeState.Request(
            transition=Transition(id=transition_id))).success

    def current():
        return call(probe, state, GetState.Request()).current_state.id

    with spinning(context, node, probe.node):
        assert wait_for(lambda: change.service_is_ready() and state.service_is_ready())
        assert current() == State.PRIMARY_STATE_UNCONFIGURED
        assert node.perception is None and not subscribed(probe, f'{namespace}/image')
        # configure loads the model and creates the publishers, but subscribes to nothing.
        assert transition(Transition.TRANSITION_CONFIGURE)
        assert current() == State.PRIMARY_STATE_INACTIVE and node.perception is not None
        assert wait_for(lambda: publisher_matched(node, f'{namespace}/depth/image'))
        time.sleep(0.5)
        assert not subscribed(probe, f'{namespace}/image')
        # activate subscribes: frames come back as depth.
        for _ in range(2):
            assert transition(Transition.TRANSITION_ACTIVATE)
            assert current() == State.PRIMARY_STATE_ACTIVE
            assert wait_for(lambda: publisher_matched(probe.node, f'{namespace}/image'))
            probe.clear('depth/image')
            publisher.publish(image_message(images[0], 'rgb8', 10 ** 18))
            assert wait_for(lambda: probe.messages('depth/image'))
            # deactivate unsubscribes; the model stays loaded.
            assert transition(Transition.TRANSITION_DEACTIVATE)
            assert current() == State.PRIMARY_STATE_INACTIVE and node.perception is not None
            assert wait_for(lambda: not subscribed(probe, f'{namespace}/image'))
        # cleanup frees the model and the publishers; configure again works.
        assert transition(Transition.TRANSITION_CLEANUP)
        assert current() == State.PRIMARY_STATE_UNCONFIGURED and node.perception is None
        assert not any(p.topic_name == f'{namespace}/depth/image' for p in node.publishers)
        assert transition(Transition.TRANSITION_CONFIGURE)
        assert transition(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN) is False  # inactive now
        assert transition(Transition.TRANSITION_INACTIVE_SHUTDOWN)
        assert current() == State.PRIMARY_STATE_FINALIZED and node.perception is None


def test_a_failed_configure_reports_failure_and_stays_unconfigured(context, tmp_path):
    node = make_node(context, tmp_path / 'missing', unique_namespace('lifecycle_fail'),
                     autostart=False)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert 'parameter model' in str(node._configure_error)
        assert node._state_machine.current_state[1] == 'unconfigured'
        assert node.perception is None
        assert not [p for p in node.publishers if 'depth' in p.topic_name]
    finally:
        node.destroy_node()


def test_a_node_in_its_own_process_leaves_the_cpu_to_its_backend_when_a_manager_configures_it(
        context, model_dir):
    """Not only at autostart: torch keeps one thread beside ONNX Runtime's once configured."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    nodes = {owns: DepthNode(namespace=unique_namespace('threads'), context=context,
                             owns_process=owns, parameter_overrides=[
                                 Parameter('model', value=str(model_dir)),
                                 Parameter('backend', value='onnxruntime'),
                                 Parameter('autostart', value=False)])
             for owns in (False, True)}
    try:
        assert nodes[False].trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert torch.get_num_threads() == 2  # a node sharing its process leaves torch alone
        assert nodes[True].trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert torch.get_num_threads() == 1
    finally:
        for node in nodes.values():
            node.destroy_node()
        torch.set_num_threads(threads)


@pytest.mark.parametrize('camera_qos, camera_first, reliable', [
    ('DEFAULT', True, True), ('DEFAULT', False, True), ('SENSOR_DATA', False, False)],
    ids=['reliable camera', 'reliable camera started later', 'best-effort camera started later'])
def test_best_available_input_matches_reliable_and_best_effort_cameras(
        context, model_dir, images, camera_qos, camera_first, reliable):
    namespace = unique_namespace('qos')
    probe = Probe(context, namespace)
    probe.listen(Image, 'depth/image')
    qos = QoSPresetProfiles[camera_qos].value
    publisher = probe.node.create_publisher(Image, 'image', qos) if camera_first else None
    node = make_node(context, model_dir, namespace)
    publisher = publisher or probe.node.create_publisher(Image, 'image', qos)
    with spinning(context, node, probe.node):
        assert wait_for(lambda: publisher_matched(probe.node, f'{namespace}/image'))
        for index, image in enumerate(images[:3]):
            publisher.publish(image_message(image, 'rgb8', 10 ** 18 + index * PERIOD_NS))
            assert wait_for(lambda: len(probe.messages('depth/image')) > index)
        subscription = probe.node.get_subscriptions_info_by_topic(f'{namespace}/image')[0]
        expected = ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT
        assert subscription.qos_profile.reliability == expected


def test_diagnostics_report_lost_frames_the_intrinsics_source_and_the_device(
        context, model_dir, images):
    namespace = unique_namespace('diagnostics')
    node = make_node(context, model_dir, namespace)
    probe = Probe(context, namespace)
    probe.listen(Image, 'depth/image')
    probe.listen(DiagnosticArray, '/diagnostics')
    publisher = probe.node.create_publisher(Image, 'image', 10)
    name = f'{namespace}/defeat: perception'

    def latest():
        found = [s for a in probe.messages('/diagnostics') for s in a.status if s.name == name]
        return found[-1] if found else None

    sent = [i for i in range(12) if i not in (7, 8, 9)]  # three frames lost upstream
    with spinning(context, node, probe.node):
        assert wait_for(lambda: publisher_matched(probe.node, f'{namespace}/image'))
        for count, index in enumerate(sent, 1):
            publisher.publish(image_message(images[index % len(images)], 'rgb8',
                                            10 ** 18 + index * PERIOD_NS))
            assert wait_for(lambda: len(probe.messages('depth/image')) >= count)
        first_after = len(probe.messages('/diagnostics'))
        assert wait_for(lambda: len(probe.messages('/diagnostics')) > first_after + 1)
        status = latest()
    values = {kv.key: kv.value for kv in status.values}
    assert values['frames lost upstream'] == '3'
    assert float(values['camera rate (Hz)']) == pytest.approx(10.0)
    assert values['intrinsics'] == 'the fx, fy, cx, cy parameters (no usable camera_info yet)'
    assert values['lifecycle state'] == 'active'
    assert values['metric depth'].startswith('no: the model was trained without speed')
    # A model that does not record its training camera gets no correction.
    assert values['camera fy/H over the training camera'] == '1'
    assert status.hardware_id == cpu_model()
    # The period that saw the gap said so, pointing at the transport docs.
    warnings = [s.message for a in probe.messages('/diagnostics') for s in a.status
                if s.name == name and s.level == DiagnosticStatus.WARN]
    assert any('3 camera frames lost before reaching the node' in w
               and 'Large images: transport' in w for w in warnings), warnings


def test_log_throttle_is_per_kind_and_counts_what_it_held_back():
    lines = []
    throttle = LogThrottle(period_s=60.0)
    assert throttle('bad input frame: UnsupportedEncoding', 'a', lines.append)
    assert not throttle('bad input frame: UnsupportedEncoding', 'b', lines.append)
    assert throttle('odometry reset', 'reset', lines.append)  # another kind is not hidden
    assert not throttle('bad input frame: UnsupportedEncoding', 'c', lines.append)
    throttle.period_s = 0.0
    assert throttle('bad input frame: UnsupportedEncoding', 'd', lines.append)
    assert lines == ['a', 'reset', 'd (2 more like this since the last such line)']


def run_loaded_node_and_signal(model_dir, images, signum, after_s):
    """Start the node as a process, stream frames at it, send ``signum`` after ``after_s``."""
    process = subprocess.Popen(
        [sys.executable, '-m', 'defeat_ros.ros.depth_node', '--ros-args', '-p',
         f'model:={model_dir}', '-p', 'backend:=pytorch', '-r', '__ns:=/signals'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    with ros_context() as context:
        probe = Probe(context, '/signals')
        probe.listen(Image, 'depth/image')
        probe.listen(Image, 'depth/visual')
        probe.listen(Image, 'features/image')
        publisher = probe.node.create_publisher(Image, 'image', 10)
        with spinning(context, probe.node):
            assert wait_for(lambda: publisher_matched(probe.node, '/signals/image'))
            stamp = 10 ** 18
            while not probe.messages('depth/image'):
                stamp += PERIOD_NS
                publisher.publish(image_message(images[0], 'rgb8', stamp))
                time.sleep(0.01)
            deadline = time.monotonic() + after_s
            while time.monotonic() < deadline:  # a frame every 10 ms: the node is busy
                stamp += PERIOD_NS
                publisher.publish(image_message(images[stamp // PERIOD_NS % len(images)],
                                                'rgb8', stamp))
                time.sleep(0.01)
            process.send_signal(signum)
            output = process.communicate(timeout=WAIT_S)[0]
    return process.returncode, output


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM], ids=['SIGINT', 'SIGTERM'])
def test_a_loaded_node_exits_cleanly_on_a_signal(model_dir, images, signum):
    for after_s in (0.0, 0.6):
        returncode, output = run_loaded_node_and_signal(model_dir, images, signum, after_s)
        assert returncode == 0, output
        assert 'Traceback' not in output and 'Error' not in output, output
