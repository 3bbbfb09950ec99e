"""Reading this project's conditional generator's options from tensor shapes (torch-free)."""

from __future__ import annotations

from imgtrans.checkpoints.detection import Checkpoint, Proposal


def detect(checkpoint: Checkpoint, report) -> None:
    z = checkpoint.shape("z_path.0.weight")  # ConvTranspose2d: (z_dim, ngf * 4, 4, 4)
    y = checkpoint.shape("y_path.0.weight")  # (classes, ngf * 4, 4, 4)
    out = checkpoint.shape("main.6.weight")  # (ngf * 2, channels, 4, 4)
    if z is None or y is None or out is None or len(z) != 4 or len(y) != 4 or len(out) != 4 or z[1] % 4:
        return
    z_dim, ngf, classes, channels = z[0], z[1] // 4, y[0], out[1]
    report(Proposal(
        family="cgan",
        config={"z_dim": z_dim, "num_classes": classes, "ngf": ngf, "channels": channels},
        architecture=f"conditional DCGAN generator, z {z_dim}, {classes} classes, ngf {ngf}, {channels} channel(s)",
        channels=(None, channels),
    ))
