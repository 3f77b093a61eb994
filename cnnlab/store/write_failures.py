"""Why a file could not be written, said as one line: a full disk, or a folder that cannot
take it (no permission, a read-only file system, a file where the folder should be); and
the HDF5 file a failed writer left open, closed."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sys
from pathlib import Path

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def disk_full(error: BaseException) -> bool:
    """Whether ``error`` (or one it was raised from) says the disk or the quota is full;
    h5py (Keras' weights) gives no errno, only HDF5's text."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
            return True
        if isinstance(error, OSError) and re.search(r"errno = (28|122)\b|No space left",
                                                    str(error)):
            return True
        error = error.__cause__ or error.__context__
    return False


# a folder that cannot take the file: no permission, a read-only file system, a file where
# a folder should be (mkdir: EEXIST; the temporary file: ENOTDIR)
NOT_WRITABLE_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST)


def not_writable_message(path: str | os.PathLike, error: OSError) -> str:
    folder = Path(path).parent
    blocking = next((part for part in (folder, *folder.parents)
                     if part.exists() and not part.is_dir()), None)
    reason = (f"{blocking} is a file, not a folder" if blocking is not None
              else error.strerror or str(error))
    return (f"{folder}: cannot write {Path(path).name} there ({reason}); make {folder} a "
            "folder you can write (or run where you can), then run the command again.")


def disk_full_message(path: str | os.PathLike) -> str:
    return (f"{path}: could not be written: the disk is full (no space left on the file "
            f"system that holds {Path(path).parent}, or your quota there is used up); "
            "nothing was half-written. Free space there and run the workflow again.")


def close_hdf5_left_open(path: str | os.PathLike) -> None:
    """Close the HDF5 files still open on ``path`` after their writer failed.

    Keras' ``save_weights`` leaves its h5py file open when a write fails (the failed
    exception holds it); closed only when the process exits, HDF5 flushes it again onto
    the full disk: h5py's tracebacks, then a crash (SIGSEGV). The file's bytes are dropped
    first, so that the flush of the close finds room, and the close's own failure is
    ignored: the file is removed next. h5py is looked at only if a writer imported it."""
    h5py = sys.modules.get("h5py")
    if h5py is None:
        return
    wanted = os.path.abspath(path)
    for file_id in h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE):
        with contextlib.suppress(Exception):  # HDF5 raises many types here
            if os.path.abspath(os.fsdecode(file_id.name)) != wanted:
                continue
            with contextlib.suppress(OSError):
                os.truncate(wanted, 0)
            h5py.File(file_id).close()
