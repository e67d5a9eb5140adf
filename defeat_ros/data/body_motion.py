"""
The motion of a camera's body frame along a trajectory: REP-105 poses and body-frame twists.

What a vehicle's odometry would report for a FrameSequence's ground truth: the poses of the
body frame (x forward, y left, z up, REP-103) at the camera and its velocities, which the bag
and KITTI writers record and the wheel-speed simulation draws from.
"""

from defeat_ros.geometry import invert_pose, matrix_to_axis_angle, optical_to_body
import torch


def body_trajectory(poses):
    """
    Convert optical-frame poses to REP-105 odometry poses.

    :param poses: F x 4 x 4 ``T_world_camera`` (optical camera frames).
    :return: F x 4 x 4 float64 ``T_odom_base``: body frames (x forward, y left, z up) at the
        camera, relative to the body frame of the first camera.
    """
    poses = poses.detach().to(torch.float64).cpu()
    return torch.from_numpy(optical_to_body(invert_pose(poses[:1]) @ poses))


def body_twists(trajectory, seconds):
    """
    Differentiate a body trajectory: velocities by finite differences, in each body frame.

    :param trajectory: F x 4 x 4 float64 ``T_odom_base``.
    :param seconds: F strictly increasing times.
    :return: (linear F x 3 m/s, angular F x 3 rad/s); frame 0 uses the step to frame 1, the
        others the step from the previous frame; zeros for a single frame.
    """
    count = trajectory.shape[0]
    if count < 2:
        zeros = torch.zeros(count, 3, dtype=torch.float64)
        return zeros, zeros.clone()
    seconds = seconds.detach().to(torch.float64).cpu()
    before = torch.cat([torch.tensor([0]), torch.arange(count - 1)])
    after = torch.cat([torch.tensor([1]), torch.arange(1, count)])
    dt = (seconds[after] - seconds[before]).view(count, 1)
    step = invert_pose(trajectory[before]) @ trajectory[after]
    displacement = trajectory[after, :3, 3] - trajectory[before, :3, 3]
    linear = (trajectory[:, :3, :3].transpose(1, 2) @ displacement.unsqueeze(-1)).squeeze(-1)
    # The rotation axis of a step is the same in the frames before and after it.
    return linear / dt, matrix_to_axis_angle(step[:, :3, :3]) / dt
