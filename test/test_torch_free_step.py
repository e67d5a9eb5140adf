"""The node's camera step with ONNX Runtime runs without importing torch (start-up time)."""

import subprocess
import sys

from defeat_ros.runtime.onnx_export import export_onnx

STEP = """
import sys
import traceback


class ImportWitness:
    \"\"\"Notes where torch is first imported from (and lets the import go on).\"\"\"

    stack = ''

    def find_spec(self, name, path=None, target=None):
        if name == 'torch' and not ImportWitness.stack:
            ImportWitness.stack = ''.join(traceback.format_stack())


sys.meta_path.insert(0, ImportWitness())
import defeat_ros.ros.depth_node  # noqa: F401, the node module itself
from defeat_ros.camera.camera_info_cache import CameraInfoCache
from defeat_ros.camera.frame_step import FrameStep
from defeat_ros.messages.builders import image_msg
from defeat_ros.messages.decode import parameter_intrinsics
from defeat_ros.messages.typestore import header
from defeat_ros.runtime.backends import leave_cpu_to_backend
from defeat_ros.runtime.perception import Perception
import numpy as np

perception = Perception(sys.argv[1], 'onnxruntime', scale_mode='camera_height')
leave_cpu_to_backend(perception.backend)
step = FrameStep(perception, camera_info=CameraInfoCache(parameter_intrinsics(0.6, 1.9, 0.5, 0.5)))
rng = np.random.default_rng(0)
for stamp in (1.0, 1.1):
    image = rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)
    outputs = step(image_msg(image, header(int(stamp * 1e9), 'cam')))
print(sorted(outputs.messages), outputs.estimate.tracking)
print('torch imported from:' + ImportWitness.stack if 'torch' in sys.modules
      else 'torch not imported')
"""


def test_node_module_and_onnxruntime_camera_step_leave_torch_out(tiny_model):
    export_onnx(tiny_model)  # the graphs exist, as after the first start or defeat-ros export
    done = subprocess.run([sys.executable, '-c', STEP, str(tiny_model)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "'odometry', 'points'" in done.stdout and 'True' in done.stdout
    assert done.stdout.strip().endswith('torch not imported'), done.stdout
