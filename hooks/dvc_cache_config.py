"""DVC's cache settings as DVC reads them, without importing DVC: the `[cache]` section of the system's config, the
user's, the repo's `.dvc/config` and its `.dvc/config.local`, a later file winning; a relative `cache.dir` is
relative to the folder of the file that sets it (`dvc cache dir --global ../cache`)."""

from __future__ import annotations

import configparser
import os


def config_files(root: str = ".") -> list[str]:
    """DVC's config files for the checkout at `root`, the weakest first (`dvc.config.Config.LEVELS`)."""
    system, user = _config_dirs()
    return [
        os.path.join(system, "config"),
        os.path.join(user, "config"),
        os.path.join(root, ".dvc", "config"),
        os.path.join(root, ".dvc", "config.local"),
    ]


def cache_settings(root: str = ".") -> dict[str, str]:
    """The `[cache]` options that apply to the checkout at `root` (`dir` made a path from `root`); an unreadable
    config file is skipped, as DVC itself then says why."""
    settings: dict[str, str] = {}
    for path in config_files(root):
        config = configparser.ConfigParser(strict=False, interpolation=None)
        try:
            with open(path, encoding="utf-8", errors="replace") as file:
                config.read_file(file)
        except (OSError, configparser.Error):
            continue
        if not config.has_section("cache"):
            continue
        options = {key: value.strip().strip("'\"") for key, value in config.items("cache")}
        if options.get("dir"):
            options["dir"] = os.path.normpath(os.path.join(os.path.dirname(path), os.path.expanduser(options["dir"])))
        settings |= options
    return settings


def cache_dir(root: str = ".") -> str:
    """DVC's local cache folder for the checkout at `root`."""
    return cache_settings(root).get("dir") or os.path.join(root, ".dvc", "cache")


def _config_dirs() -> tuple[str, str]:
    """The system's and the user's DVC config folders (`dvc.dirs`): DVC's variables, else the platform's folders,
    through platformdirs as DVC finds them (DVC depends on it); in a hook environment without it, the XDG folders
    that a Linux DVC uses."""
    system, user = os.getenv("DVC_SYSTEM_CONFIG_DIR"), os.getenv("DVC_GLOBAL_CONFIG_DIR")
    if system and user:
        return system, user
    try:
        import platformdirs
    except ImportError:
        xdg_system = (os.getenv("XDG_CONFIG_DIRS") or "/etc/xdg").split(os.pathsep)[0]
        xdg_user = os.getenv("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
        return system or os.path.join(xdg_system, "dvc"), user or os.path.join(xdg_user, "dvc")
    return (
        system or platformdirs.site_config_dir("dvc", "iterative"),
        user or platformdirs.user_config_dir("dvc", "iterative"),
    )
