import gzip
import struct

import numpy as np
import pytest
import torch
from tests.helpers import FASHION_DIR, MNIST_TEST_DIR, mnist_test_data

from gan import DataConfig, DataNotFoundError, load_dataset, stratified_subset
from gan.data import Batches, read_idx


def write_idx(path, array: np.ndarray):
    codes = {np.uint8: 0x08}
    header = bytes([0, 0, codes[array.dtype.type], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def test_reads_real_mnist_test_split():
    data = load_dataset(DataConfig(**mnist_test_data()))
    assert data.images.shape == (10000, 1, 28, 28) and data.images.dtype == torch.uint8
    assert data.class_counts().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert data.source == str(MNIST_TEST_DIR)


def test_reads_real_fashion_mnist_from_debian_package():
    train = load_dataset(DataConfig(name="fashion_mnist"))
    assert train.source == str(FASHION_DIR)
    assert train.images.shape == (60000, 1, 28, 28)
    assert train.class_counts().tolist() == [6000] * 10
    both = load_dataset(DataConfig(name="fashion_mnist", split="all"))
    assert len(both) == 70000


@pytest.mark.parametrize("fraction", [0.1, 0.37, 0.5, 0.999])
def test_stratified_fraction_is_exactly_proportional(fraction):
    full = load_dataset(DataConfig(**mnist_test_data()))
    sub = load_dataset(DataConfig(**mnist_test_data(dataset_fraction=fraction)), seed=3)
    assert len(sub) == round(fraction * len(full))
    exact = full.class_counts().double() * fraction
    assert torch.all((sub.class_counts() - exact).abs() < 1.0)


def test_num_images_and_seeds():
    labels = load_dataset(DataConfig(**mnist_test_data())).labels
    a = stratified_subset(labels, count=3000, seed=1)
    b = stratified_subset(labels, count=3000, seed=1)
    c = stratified_subset(labels, count=3000, seed=2)
    assert a.numel() == 3000 and torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(torch.unique(a), a)  # no duplicates, sorted
    sub = load_dataset(DataConfig(**mnist_test_data(num_images=700)), seed=0)
    assert len(sub) == 700


def test_resize_to_64_for_64px_architectures():
    data = load_dataset(DataConfig(**mnist_test_data(num_images=50, image_size=64)))
    assert data.images.shape == (50, 1, 64, 64)
    assert data.images.float().mean() > 10  # still digits, not a blank canvas


def test_emnist_images_are_turned_upright(tmp_path):
    upright = np.zeros((3, 28, 28), dtype=np.uint8)
    upright[:, 2:26, 4] = 255  # a vertical bar on the left ...
    upright[:, 25, 4:20] = 255  # ... with a foot: an "L"
    stored = np.ascontiguousarray(upright.transpose(0, 2, 1))  # EMNIST keeps images transposed
    for split in ("train", "test"):
        write_idx(tmp_path / f"emnist-balanced-{split}-images-idx3-ubyte.gz", stored)
        write_idx(tmp_path / f"emnist-balanced-{split}-labels-idx1-ubyte.gz", np.array([0, 10, 46], dtype=np.uint8))
    data = load_dataset(DataConfig(name="emnist_balanced", root=str(tmp_path)))
    assert torch.equal(data.images[:, 0], torch.from_numpy(upright))
    assert data.info.num_classes == 47 and data.info.class_names[10] == "A"


def test_missing_data_names_files_folders_and_remedy(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        load_dataset(DataConfig(name="mnist", root=str(tmp_path / "nowhere")))
    msg = str(err.value)
    for fragment in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", str(tmp_path / "nowhere"), "data.download"):
        assert fragment in msg
    with pytest.raises(DataNotFoundError, match="emnist-balanced-train-images-idx3-ubyte"):
        load_dataset(DataConfig(name="emnist_balanced", root=str(tmp_path)))


def test_celeba_folder_is_cropped_resized_and_cached(tmp_path):
    from PIL import Image

    folder = tmp_path / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = []
    for i in range(6):
        name = f"{i:06d}.jpg"
        Image.fromarray(rng.integers(0, 255, (218, 178, 3), dtype=np.uint8)).save(folder / "img_align_celeba" / name)
        lines.append(f"{name} {0 if i < 4 else 2}")
    (folder / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    train = load_dataset(DataConfig(name="celeba", root=str(folder)))
    assert train.images.shape == (4, 3, 64, 64)
    again = load_dataset(DataConfig(name="celeba", root=str(folder)))
    assert torch.equal(train.images, again.images)
    assert len(load_dataset(DataConfig(name="celeba", root=str(folder), split="all", num_images=3))) == 3


def test_idx_reader_rejects_garbage(tmp_path):
    bad = tmp_path / "x-idx3-ubyte"
    bad.write_bytes(b"not an idx file")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)


def test_batches_cover_an_epoch_without_replacement_and_resume():
    labels = torch.arange(100)
    images = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1).expand(100, 1, 2, 2).contiguous()
    b = Batches(images, labels, batch_size=10, seed=0)
    seen = torch.cat([b.next()[1] for _ in range(10)])
    assert sorted(seen.tolist()) == list(range(100))
    state = b.state_dict()
    x1, y1 = b.next()
    b2 = Batches(images, labels, batch_size=10, seed=99)
    b2.load_state_dict(state)
    x2, y2 = b2.next()
    assert torch.equal(y1, y2) and torch.equal(x1, x2)
    assert x1.min() >= -1 and x1.max() <= 1
    with pytest.raises(ValueError, match="train.batch_size"):
        Batches(images, labels, batch_size=101, seed=0)
