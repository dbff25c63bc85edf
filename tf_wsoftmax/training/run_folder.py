"""A run folder that can be trusted: locked while in use, and it knows what it wrote.

- One process at a time: `RunFolder` takes an exclusive `fcntl` lock on
  `<folder>/.lock` and refuses a second process at once (the lock dies with
  its process, also under SIGKILL).
- It knows its files: every file the package writes there is listed in
  `<folder>/manifest.json`, written atomically with the file's name before
  the file itself. `clear` (what `--overwrite` does) deletes exactly those,
  refuses when the folder holds anything else (naming it) and removes the
  folder only if the package created it.
- Nothing is overwritten that the package did not write: writing a name that
  exists and is not in the manifest is refused.
- Every file is written to `<name>.partial-<pid>` and renamed; leftovers of
  killed writers (of the package's own names) are removed when the folder is
  opened.
- Its identity: `config.json` holds the run's identity (the resolved config
  and the fingerprint of its data); `claim` compares a new call's identity
  with it and names the keys that differ.
"""

import fcntl
import json
import os
import re
import shutil

from tf_wsoftmax.training.checkpoint import write_atomically

LOCK_FILE = ".lock"
MANIFEST_FILE = "manifest.json"
CONFIG_FILE = "config.json"
# `<name>.partial-<pid>` (`write_atomically`) or `<stem>.partial-<pid><suffix>` (`RunFolder.save_with`).
_PARTIAL = re.compile(r"^(?P<stem>.+?)\.partial-\d+(?P<suffix>\.[A-Za-z0-9]+)?$")


class RunFolderError(ValueError):
    """A run folder that cannot take this run (busy, another run, foreign files); the message says why."""


def _json_bytes(payload):
    return (json.dumps(payload, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def identity_differences(saved, wanted, resumable=()):
    """Keys (dotted for nested dicts) whose values differ between two identities.

    Args:
        saved: the identity a folder holds.
        wanted: the identity of this call.
        resumable: top-level keys allowed to differ.

    Returns:
        Sorted list of "key: saved -> wanted" strings.
    """
    differences = []

    def walk(a, b, prefix):
        for key in sorted(set(a) | set(b)):
            if not prefix and key in resumable:
                continue
            left, right = a.get(key), b.get(key)
            if isinstance(left, dict) and isinstance(right, dict):
                walk(left, right, f"{prefix}{key}.")
            elif left != right:
                differences.append(f"{prefix}{key}: {left!r} -> {right!r}")

    walk(json.loads(json.dumps(saved)), json.loads(json.dumps(wanted)), "")
    return differences


class RunFolder:
    """A training run's folder (a context manager: the lock is held inside `with`).

    Args:
        path: the folder (created if missing).

    Example:
    >>> import tempfile, os
    >>> root = tempfile.mkdtemp()
    >>> with RunFolder(os.path.join(root, "run")) as folder:
    ...     folder.write_json("metrics.json", {"accuracy": 0.5})
    ...     sorted(folder.written())
    ['.lock', 'manifest.json', 'metrics.json']
    """

    def __init__(self, path):
        self.path = path
        self._lock = None
        self._manifest = None

    def file(self, name):
        """The path of `name` in the folder."""
        return os.path.join(self.path, name)

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc):
        self.close()

    def open(self):
        """Creates the folder if needed, takes its lock, reads its manifest, removes partial leftovers.

        Raises:
            RunFolderError: another process holds the folder, or its manifest is not one of ours.
            OSError: the folder cannot be created or written (naming it).
        """
        created = not os.path.exists(self.path)
        if not created and not os.path.isdir(self.path):
            raise RunFolderError(f"{self.path} exists and is not a folder.")
        try:
            os.makedirs(self.path, exist_ok=True)
            lock = open(self.file(LOCK_FILE), "a+")
        except OSError as error:
            raise OSError(f"cannot write the run folder {self.path}: {error.strerror or error}") from None
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            lock.close()
            raise RunFolderError(
                f"{self.path} is in use by another process ({holder}); wait for it to finish, or use another folder."
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}\n")
        lock.flush()
        self._lock = lock
        self._manifest = self._read_manifest(created)
        self._record(LOCK_FILE)
        self._remove_partial_leftovers()

    def close(self):
        """Releases the lock (the folder and its files stay)."""
        if self._lock is not None:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def _read_manifest(self, created):
        path = self.file(MANIFEST_FILE)
        if not os.path.exists(path):
            return {"created_folder": created, "files": []}
        try:
            with open(path) as f:
                manifest = json.load(f)
        except (OSError, ValueError) as error:
            raise RunFolderError(f"{path} is not a readable manifest ({error}); this folder was not written by tf_wsoftmax as it is now.") from None
        if not (isinstance(manifest, dict) and isinstance(manifest.get("files"), list)
                and all(isinstance(name, str) for name in manifest["files"])
                and isinstance(manifest.get("created_folder"), bool)):
            raise RunFolderError(f"{path} is not a tf_wsoftmax manifest (expected {{'created_folder', 'files'}}).")
        return manifest

    def written(self):
        """The names the package wrote in this folder (the manifest)."""
        return list(self._manifest["files"])

    def _record(self, name):
        if name not in self._manifest["files"]:
            self._manifest["files"].append(name)
            if MANIFEST_FILE not in self._manifest["files"]:
                self._manifest["files"].append(MANIFEST_FILE)
            write_atomically(self.file(MANIFEST_FILE), lambda f: f.write(_json_bytes(self._manifest)))

    def _remove_partial_leftovers(self):
        ours = set(self._manifest["files"]) | {LOCK_FILE, MANIFEST_FILE}
        for entry in os.listdir(self.path):
            match = _PARTIAL.match(entry)
            if match and match["stem"] + (match["suffix"] or "") in ours:
                os.remove(self.file(entry))

    def claim_name(self, name):
        """Records `name` as the package's before it is written.

        Raises:
            RunFolderError: `name` exists and the package did not write it.
        """
        if name not in self._manifest["files"] and os.path.lexists(self.file(name)):
            raise RunFolderError(
                f"{self.file(name)} exists and was not written by tf_wsoftmax; move it, or use another folder."
            )
        self._record(name)
        return self.file(name)

    def write_bytes(self, name, data):
        """Writes a file atomically (temporary name, fsync, rename) and records it."""
        write_atomically(self.claim_name(name), lambda f: f.write(data))

    def write_json(self, name, payload):
        """Writes JSON atomically and records it (NaN and infinity refused)."""
        self.write_bytes(name, _json_bytes(payload))

    def write_lines(self, name, records):
        """Writes one JSON object per line, atomically, and records it."""
        self.write_bytes(name, "".join(json.dumps(r, sort_keys=True, allow_nan=False) + "\n" for r in records).encode())

    def save_with(self, name, save):
        """Calls `save(temporary_path)` and renames the result to `name` (for files a library writes).

        The temporary path keeps the name's suffix (e.g. `model.partial-12.keras`), which Keras needs.
        """
        path = self.claim_name(name)
        stem, suffix = os.path.splitext(name)
        temporary = self.file(f"{stem}.partial-{os.getpid()}{suffix}")
        try:
            save(temporary)
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.remove(temporary)
            raise

    def read_json(self, name):
        """A JSON object the package wrote here, or None when the file is absent.

        Raises:
            RunFolderError: the file is not a JSON object (naming it).
        """
        path = self.file(name)
        if not os.path.exists(path):
            return None
        try:
            with open(path) as f:
                payload = json.load(f)
        except (OSError, ValueError) as error:
            raise RunFolderError(f"{path} is not readable JSON ({error}).") from None
        if not isinstance(payload, dict):
            raise RunFolderError(f"{path} holds {type(payload).__name__}, not a JSON object.")
        return payload

    def saved_identity(self):
        """The identity in `config.json`, or None for a folder that holds no run yet."""
        payload = self.read_json(CONFIG_FILE)
        if payload is None:
            return None
        if not isinstance(payload.get("identity"), dict):
            raise RunFolderError(f"{self.file(CONFIG_FILE)} has no 'identity' object; it is not a tf_wsoftmax run.")
        return payload["identity"]

    def claim(self, identity, resumable=(), overwrite=False):
        """Makes the folder this run's: writes `config.json` for a new run, or checks the saved identity.

        Args:
            identity: this call's identity (JSON-able dict).
            resumable: top-level keys allowed to differ from the saved identity
                (e.g. how long the run trains).
            overwrite: a run of another identity is deleted first (`clear`:
                only the package's files) instead of refused.

        Returns:
            True when the folder already held this run (it resumes).

        Raises:
            RunFolderError: the folder holds a run of another identity (naming the keys).
        """
        saved = self.saved_identity()
        if overwrite and saved is not None and identity_differences(saved, identity, resumable):
            self.clear()
            saved = None
        if saved is None:
            self.write_json(CONFIG_FILE, {"identity": identity})
            return False
        differences = identity_differences(saved, identity, resumable)
        if differences:
            raise RunFolderError(
                f"{self.path} holds a run with a different config or data ({'; '.join(differences)}). Use "
                "another folder, or --overwrite to delete that run's files."
            )
        if saved != identity:
            self.write_json(CONFIG_FILE, {"identity": identity})  # a resumable key changed (e.g. epochs)
        return True

    def clear(self):
        """Deletes every file the package wrote here (not the lock), refusing when anything else is there.

        Raises:
            RunFolderError: the folder holds files the package did not write (naming them).
        """
        ours = set(self._manifest["files"])
        foreign = sorted(entry for entry in os.listdir(self.path) if entry not in ours)
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise RunFolderError(
                f"--overwrite deletes only what tf_wsoftmax wrote, and {self.path} also holds {shown}; move "
                "those, or use another folder."
            )
        for name in sorted(ours - {LOCK_FILE, MANIFEST_FILE}):
            path = self.file(name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.remove(path)
        self._manifest["files"] = [LOCK_FILE, MANIFEST_FILE]
        write_atomically(self.file(MANIFEST_FILE), lambda f: f.write(_json_bytes(self._manifest)))
