"""Write imgtrans_colormatrix/sepia.safetensors: the sepia matrix as a 1x1
convolution acting on imgtrans's normalised pixels ((x - 0.5) / 0.5).

    python make_weights.py
"""

from pathlib import Path

import torch

from imgtrans.checkpoints import weights

SEPIA = torch.tensor([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])


def main() -> None:
    # y01 = M x01  with x01 = (x + 1) / 2 and y = 2 y01 - 1  =>  y = M x + (M 1 - 1)
    weight = SEPIA.reshape(3, 3, 1, 1).clone()
    bias = SEPIA.sum(1) - 1
    path = Path(__file__).parent / "imgtrans_colormatrix" / "sepia.safetensors"
    metadata = weights.make_metadata(
        name="sepia", family="colormatrix", config={"channels": 3},
        preprocess={"load_size": None, "crop_size": None, "resize": "none", "mean": 0.5, "std": 0.5, "channels": 3},
        direction="photo -> sepia", license="MIT", source="make_weights.py", summary="sepia toning",
    )
    weights.save(path, {"G.0.weight": weight, "G.0.bias": bias}, metadata)
    print(path)


if __name__ == "__main__":
    main()
