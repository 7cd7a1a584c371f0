"""How to get the Kaggle files: the manual instructions, and a hint that depends on whether `kagglehub` and
Kaggle credentials are present (detected only; nothing is downloaded or read here)."""

import importlib.util
import os

from etils import epath

KAGGLE_DATASET = "retailrocket/ecommerce-dataset"

MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
Download the Retail Rocket e-commerce dataset from Kaggle (https://www.kaggle.com/datasets/{KAGGLE_DATASET};
an account and accepting the dataset's terms are needed) and unzip it into the manual dir, by default
`~/tensorflow_datasets/downloads/manual/` (TFDS's `<data_dir>/downloads/manual/`), or into a `retail_rocket/`
folder inside it:

    kaggle datasets download -d {KAGGLE_DATASET}
    unzip ecommerce-dataset.zip -d <manual_dir>

Expected files: events.csv; item_properties_part1.csv and item_properties_part2.csv (or one item_properties.csv);
category_tree.csv is optional (without it every parent category is 0).
"""


def kagglehub_installed() -> bool:
    """True where the `kagglehub` package can be imported."""
    return importlib.util.find_spec("kagglehub") is not None


def kaggle_credentials_present() -> bool:
    """True where Kaggle credentials are configured (environment variables or a kaggle.json file exists)."""
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return True
    config_dir = os.environ.get("KAGGLE_CONFIG_DIR")
    candidates = [epath.Path(config_dir) / "kaggle.json"] if config_dir else []
    candidates += [epath.Path("~/.kaggle/kaggle.json").expanduser(),
                   epath.Path("~/.config/kaggle/kaggle.json").expanduser()]
    return any(path.exists() for path in candidates)


def download_hint(manual_dir: epath.PathLike) -> str:
    """One paragraph saying how to fetch the files into `manual_dir` from this machine."""
    if kagglehub_installed() and kaggle_credentials_present():
        return ("kagglehub and Kaggle credentials are present here; to download, run:\n"
                f"    python -c \"import kagglehub, shutil; shutil.copytree(kagglehub.dataset_download("
                f"'{KAGGLE_DATASET}'), '{manual_dir}', dirs_exist_ok=True)\"")
    if kagglehub_installed():
        return ("kagglehub is installed but no Kaggle credentials were found (set KAGGLE_USERNAME and KAGGLE_KEY, "
                "or put kaggle.json in ~/.kaggle/); then kagglehub.dataset_download("
                f"'{KAGGLE_DATASET}') fetches the files.")
    return ("kagglehub is not installed here (`pip install kagglehub`, or this project's `[kaggle]` extra), so the "
            "files cannot be fetched automatically; download them as described above.")
