"""A unix socket's path that fits the kernel's limit, however deep its folder (stdlib only:
the proxy and the agent use it on a host too).

    sock.bind(short("/very/deep/state/.zerodown/controller.sock"))
    # -> "/run/zerodown/3f2a9c0d11e4b7a2/controller.sock": the same file, through a link

A unix socket's address holds at most UNIX_PATH_MAX bytes (sun_path: 108 with its NUL),
so a socket in a deep state directory (pytest's temp folders, a home folder's project)
could be neither bound nor connected to: `zerodown up` failed with HAProxy's socket 116
bytes long. Rather than refuse such a folder, every bind and connect of a socket of
zerodown's goes through short(): a path that fits is used as it is; a longer one through
a symlink to its folder, named by a hash of the folder in a short folder of this user's
(ALIASES). The socket file itself stays where it was put; the link only names the way. The
name is the same in every process (the controller, the proxy, the CLI), so the binder and
the connecter meet, and a link is made again if it is missing or names another folder;
links whose folder is gone are removed as a new one is made.
A program zerodown starts (HAProxy) is given the short path in its configuration.

A path whose own file name is too long for even that is refused, naming the path, its
length and the limit.
"""

from __future__ import annotations

import os
import stat

from zerodown.errors import UsageError

UNIX_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL


def short(path: str | os.PathLike, room: int = 0) -> str:
    """`path`, or the same socket through a short link to its folder when `path` (plus
    `room` bytes: a name its binder derives from it, HAProxy's `<path>.<pid>.tmp`) is over
    UNIX_PATH_MAX bytes."""
    path = os.fspath(path)
    if fits(path, room):
        return path
    import hashlib  # only here: the CLI's API client imports this module, and starts fast
    folder, name = os.path.split(os.path.abspath(path))
    alias = os.path.join(_aliases(), hashlib.sha256(os.fsencode(folder)).hexdigest()[:16])
    got = os.path.join(alias, name)
    if not fits(got, room):
        raise too_long(path, room)
    _link(alias, folder)
    return got


def fits(path: str, room: int = 0) -> bool:
    return len(os.fsencode(path)) + room <= UNIX_PATH_MAX


def too_long(path: str, room: int = 0, what: str = "unix socket path") -> UsageError:
    size = len(os.fsencode(path)) + room
    also = f" (with the {room} bytes its program adds)" if room else ""
    return UsageError(f"{what} {path} is {size} bytes{also}, over the {UNIX_PATH_MAX}-byte "
                      f"limit of unix sockets; use a shorter state directory")


def _aliases() -> str:
    """This user's folder of links (made 0700 if missing): /run/zerodown for root,
    $XDG_RUNTIME_DIR/zerodown, else /tmp/zerodown-<uid>; the first that can be had."""
    uid = os.geteuid()
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    candidates = (["/run/zerodown"] if uid == 0 else []) + \
        ([os.path.join(runtime, "zerodown")] if runtime and len(runtime) < 40 else []) + \
        [f"/tmp/zerodown-{uid}"]
    for folder in candidates:
        if _own_folder(folder, uid):
            return folder
    raise UsageError(f"no folder for the short names of unix sockets: none of "
                     f"{', '.join(candidates)} could be made, or one is not this user's "
                     f"(uid {uid}) alone; make {candidates[-1]} (mode 0700), or use a "
                     f"shorter state directory")


def _own_folder(folder: str, uid: int) -> bool:
    """Is `folder` (made if missing) a real folder of `uid` that nobody else may write?"""
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return False
    try:
        st = os.lstat(folder)
    except OSError:
        return False
    # in /tmp, anyone may have made it first: a link or a folder of theirs would let them
    # swap our links for their own sockets
    return stat.S_ISDIR(st.st_mode) and st.st_uid == uid and not st.st_mode & 0o022


def _link(alias: str, folder: str) -> None:
    """`alias` a symlink to `folder`, replaced at once (rename) if it names another."""
    try:
        if os.readlink(alias) == folder:
            return
    except OSError:
        pass
    import threading  # (not at the module's import: the CLI's client starts fast)
    _prune(os.path.dirname(alias))
    made = f"{alias}.{os.getpid()}.{threading.get_ident()}"
    try:
        os.symlink(folder, made)
        os.replace(made, alias)
    except OSError as e:
        try:
            os.unlink(made)
        except OSError:
            pass
        raise UsageError(f"cannot link {alias} to {folder} (a short name for its unix "
                         f"sockets): {e.strerror or e}") from None


def _prune(aliases: str) -> None:
    """Remove the links whose folder is gone (a test's temp folder, a state directory
    removed), when a new one is made: they would pile up in /run until a reboot. One whose
    folder comes back is made again by the next short()."""
    try:
        names = os.listdir(aliases)
    except OSError:
        return
    for name in names:
        link = os.path.join(aliases, name)
        if os.path.islink(link) and not os.path.exists(link):
            try:
                os.unlink(link)
            except OSError:
                pass
