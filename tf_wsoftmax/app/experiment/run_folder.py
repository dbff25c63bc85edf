"""Run folders that know their run: the same config resumes, a different one is refused."""

import json
import os
import shutil

CONFIG_FILE = "config.json"


def folder_loop_config(out_dir, epochs, checkpoint_every, jit_compile, verbose, **kwargs):
    """A `LoopConfig` that checkpoints to out_dir/ckpt and logs TensorBoard to out_dir/logs.

    Args:
        out_dir: the run folder.
        epochs, checkpoint_every, jit_compile, verbose: as in `LoopConfig`.
        **kwargs: other `LoopConfig` fields (max_steps, epoch_callback).

    Returns:
        The `LoopConfig`.
    """
    from tf_wsoftmax.training import LoopConfig  # TensorFlow's loop; the folder checks need no framework

    return LoopConfig(
        epochs=epochs,
        checkpoint_dir=os.path.join(out_dir, "ckpt"),
        checkpoint_every=checkpoint_every,
        log_dir=os.path.join(out_dir, "logs"),
        jit_compile=jit_compile,
        verbose=verbose,
        **kwargs,
    )


def config_differences(saved, wanted, resumable_keys=()):
    """Keys whose values differ between two config dicts (JSON-normalised).

    Args:
        saved: the config a folder was started with.
        wanted: the config asked for now.
        resumable_keys: keys that may change between calls of one run (how
            long or how it is computed, not what is trained).

    Returns:
        Sorted list of differing keys.
    """
    saved = json.loads(json.dumps(saved))
    wanted = json.loads(json.dumps(wanted))
    keys = (set(saved) | set(wanted)) - set(resumable_keys)
    return sorted(key for key in keys if saved.get(key) != wanted.get(key))


def check_run_folder(out_dir, config, resumable_keys=(), overwrite=False):
    """Whether `out_dir` can take a run of `config`; writes nothing.

    A folder started with another config is refused, naming the differing
    keys, unless `overwrite`. Keys in `resumable_keys` may differ: asking
    for more epochs continues the run. Call it before anything else, and
    `start_run_folder` once the run's data and model are built (a run that
    is refused then leaves no config.json behind to block the next one).

    Args:
        out_dir: the run folder.
        config: the run's config as a dict.
        resumable_keys: keys allowed to change (see `config_differences`).
        overwrite: a folder with another config will be replaced.

    Returns:
        True if the folder holds this run (it resumes), else False.

    Raises:
        ValueError: the folder holds a run with another config.
    """
    path = os.path.join(out_dir, CONFIG_FILE)
    if not os.path.exists(path):
        return False
    with open(path) as f:
        saved = json.load(f)
    differing = config_differences(saved, config, resumable_keys)
    if differing and not overwrite:
        changes = ", ".join(f"{k}: {saved.get(k)!r} -> {config.get(k)!r}" for k in differing)
        raise ValueError(
            f"{out_dir} holds a run with a different config ({changes}). Use another --out "
            "folder, or --overwrite to delete that run."
        )
    return not differing


def start_run_folder(out_dir, config, resumable_keys=(), overwrite=False):
    """Creates or reopens `out_dir` for a run of `config` and writes its config.json (atomically).

    With `overwrite`, a folder holding another config is deleted first.

    Returns:
        True if the folder already held this run (it resumes), else False.

    Raises:
        ValueError: the folder holds a run with another config (see `check_run_folder`).
        OSError: the folder cannot be created or written (one line naming it and why).
    """
    resumes = check_run_folder(out_dir, config, resumable_keys, overwrite)
    path = os.path.join(out_dir, CONFIG_FILE)
    try:
        if not resumes and os.path.exists(path):
            shutil.rmtree(out_dir)  # another config, and overwrite was asked for
        os.makedirs(out_dir, exist_ok=True)
        temporary = path + ".tmp"
        with open(temporary, "w") as f:
            json.dump(config, f, indent=2)
        os.replace(temporary, path)
    except OSError as error:
        raise OSError(f"cannot write the run folder {out_dir}: {error.strerror or error}") from None
    return resumes
