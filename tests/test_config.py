"""Loading config.yaml: DESIGN.md section 1's keys and defaults, paths, env, errors."""

from __future__ import annotations

import ntpath
import os
import posixpath
from dataclasses import fields
from pathlib import Path

import pytest

from reconciler.config import (
    DEFAULT_EXCLUDE,
    DEFAULT_EXTENSIONS,
    AfterUpload,
    Config,
    ConfigError,
    Live,
    Logging,
    Notify,
    Remote,
    Retry,
    Stability,
    Transfer,
    load,
    parse_rate,
    path_inside,
)
from reconciler.models import WatchDir

# DESIGN.md section 1, verbatim (every key with its documented default).
SAMPLE = r"""
watch_dir: C:\BlueIris\New          # or a list: watch_dirs: [{path: ..., prefix: ...}, ...]
bucket: my-camera-archive
prefix: blueiris/                   # key = prefix + path relative to the watch dir ('/' separators)
key_template: null                  # optional, e.g. "{prefix}{camera}/{mtime:%Y/%m/%d}/{name}"
extensions: [.dat, .bvr, .avi, .mov, .jpg, .mp4]   # case-insensitive
exclude: ["*.part", "*.filepart", "*.tmp", "~*"]   # glob patterns on the relative path (temp names of FTP uploads)
recursive: true

interval_seconds: 60                # between passes when running continuously
order: newest_first                 # or oldest_first: which ready files go first

stability:
  checks: 2                         # observations with unchanged size+mtime (passes, plus an in-pass re-check)
  settle_seconds: 2                 # wait before the in-pass re-check of new candidates (one wait per pass)
  min_age_seconds: 60               # mtime must be at least this old (recorders touch files shortly after closing them)
  check_open_files: true            # skip files another process has open (psutil / share-mode probe)
  skip_empty: true                  # zero-byte files are not uploaded

remote:
  endpoint_url: null                # S3-compatible stores
  region: null
  profile: null
  storage_class: null               # e.g. STANDARD_IA, GLACIER_IR
  sse: null                         # AES256 or aws:kms
  sse_kms_key_id: null
  checksum: auto                    # auto | sha256 | crc32c | off ; "off" for stores that reject flexible checksums
  listing: auto                     # auto: list the prefix when the manifest is new or lost, then every relist_hours; always: every pass; never: write-only credentials
  relist_hours: 24
  on_conflict: keep_both            # remote key exists with different content: keep_both | overwrite | skip

transfer:
  multipart_threshold_mb: 16
  multipart_chunksize_mb: 16
  max_concurrency: 8                # parts in flight for one file
  parallel_files: 4                 # files in flight at once
  max_bandwidth: null               # e.g. "2MB/s"; null = unlimited

retry:
  max_attempts: 5                   # within one pass, per file (MAX_RETRIES)
  base_delay_seconds: 1             # exponential backoff with jitter
  max_delay_seconds: 60
  # after a pass's attempts are spent, the file backs off across passes (1 min, 2, 4 ... capped at 6 h)

after_upload:
  action: keep                      # keep | delete | move
  move_to: null                     # for move
  min_age_hours: 0                  # only act on files uploaded at least this long ago
  # delete/move happen only after the remote object is verified (size, and checksum where stored)

state_dir: .camup                   # manifest (SQLite) and lock live here
logging:
  level: INFO
  file: null                        # e.g. logs/camup-sync.log, rotated
  rotation: 10 MB
  retention: 14 days
  json: false
"""  # noqa: E501 - verbatim from DESIGN.md

MINIMAL = "watch_dir: cams\nbucket: my-bucket\n"
NO_ENV: dict[str, str] = {}


def _load(write_config, text: str, env=None) -> Config:
    return load(write_config(text), env=NO_ENV if env is None else env)


def _error(write_config, text: str, env=None) -> str:
    with pytest.raises(ConfigError) as caught:
        _load(write_config, text, env)
    return str(caught.value)


# ---- every documented key, with its default ---------------------------------------------------
def test_the_design_sample_loads_and_matches_the_defaults_in_code(write_config, tmp_path) -> None:
    cfg = _load(write_config, SAMPLE)
    assert cfg.bucket == "my-camera-archive"
    assert cfg.prefix == "blueiris/"
    assert len(cfg.watch_dirs) == 1 and cfg.watch_dirs[0].prefix == "blueiris/"
    assert cfg.watch_dirs[0].path.replace("\\", "/").endswith("C:/BlueIris/New")
    # The sample's values are the documented defaults: a config with only the required keys
    # must come out the same.
    minimal = _load(write_config, MINIMAL)
    for section in ("stability", "remote", "transfer", "retry", "after_upload", "logging"):
        assert getattr(cfg, section) == getattr(minimal, section), section
    for key in ("key_template", "extensions", "exclude", "recursive", "interval_seconds", "order",
                "state_dir"):
        assert getattr(cfg, key) == getattr(minimal, key), key


DEFAULTS = [
    ("prefix", ""), ("key_template", None), ("extensions", DEFAULT_EXTENSIONS),
    ("exclude", DEFAULT_EXCLUDE), ("recursive", True), ("interval_seconds", 60.0),
    ("order", "newest_first"),
    ("stability", Stability(checks=2, settle_seconds=2.0, min_age_seconds=60.0,
                            check_open_files=True, skip_empty=True)),
    ("remote", Remote(endpoint_url=None, region=None, profile=None, storage_class=None, sse=None,
                      sse_kms_key_id=None, checksum="auto", listing="auto", relist_hours=24.0,
                      on_conflict="keep_both")),
    ("transfer", Transfer(multipart_threshold_mb=16.0, multipart_chunksize_mb=16.0,
                          max_concurrency=8, parallel_files=4, parallel_small_files=8,
                          max_bandwidth=None)),
    ("retry", Retry(max_attempts=5, base_delay_seconds=1.0, max_delay_seconds=60.0)),
    ("after_upload", AfterUpload(action="keep", move_to=None, min_age_hours=0.0)),
    ("logging", Logging(level="INFO", file=None, rotation="10 MB", retention="14 days", json=False)),
]


@pytest.mark.parametrize(("key", "expected"), DEFAULTS, ids=[k for k, _ in DEFAULTS])
def test_defaults_when_omitted(write_config, key: str, expected) -> None:
    assert getattr(_load(write_config, MINIMAL), key) == expected


def test_default_extensions_and_excludes_are_the_documented_ones() -> None:
    assert DEFAULT_EXTENSIONS == (".dat", ".bvr", ".avi", ".mov", ".jpg", ".mp4")
    assert DEFAULT_EXCLUDE == ("*.part", "*.filepart", "*.tmp", "~*")


def test_every_field_has_a_one_line_doc() -> None:
    for cls in (Stability, Remote, Transfer, Retry, AfterUpload, Logging):
        for f in fields(cls):
            assert f.metadata.get("doc"), f"{cls.__name__}.{f.name}"


def test_state_dir_default_is_next_to_the_config(write_config, tmp_path) -> None:
    cfg = _load(write_config, MINIMAL)
    assert cfg.state_dir == str(tmp_path / ".camup")
    assert cfg.manifest_path == tmp_path / ".camup" / "manifest.sqlite3"


def test_extensions_are_normalised(write_config) -> None:
    cfg = _load(write_config, MINIMAL + "extensions: [MP4, .JPG, .Dav]\n")
    assert cfg.extensions == (".mp4", ".jpg", ".dav")


def test_a_single_string_is_a_one_item_list(write_config) -> None:
    cfg = _load(write_config, MINIMAL + "extensions: .mp4\nexclude: '*.tmp'\n")
    assert (cfg.extensions, cfg.exclude) == ((".mp4",), ("*.tmp",))


# ---- watch dirs ------------------------------------------------------------------------------
def test_watch_dir_shorthand(write_config, tmp_path) -> None:
    cfg = _load(write_config, MINIMAL + "prefix: bi/\n")
    assert cfg.watch_dirs == (WatchDir(str(tmp_path / "cams"), "bi/"),)


def test_watch_dirs_list_with_per_dir_prefix(write_config, tmp_path) -> None:
    cfg = _load(write_config, (
        "bucket: my-bucket\nprefix: shared/\nwatch_dirs:\n"
        "  - {path: a, prefix: front/}\n"
        "  - path: b\n"
        "  - c\n"))
    assert cfg.watch_dirs == (
        WatchDir(str(tmp_path / "a"), "front/"),
        WatchDir(str(tmp_path / "b"), "shared/"),
        WatchDir(str(tmp_path / "c"), "shared/"),
    )


def test_relative_paths_resolve_against_the_config_folder_not_the_cwd(
        write_config, tmp_path, monkeypatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (tmp_path / "conf").mkdir()
    path = write_config(
        "watch_dir: ../cams\nbucket: my-bucket\nstate_dir: state\n"
        "logging: {file: logs/c.log}\nafter_upload: {action: move, move_to: done}\n",
        name="conf/config.yaml")
    cfg = load(Path(os.path.relpath(path, elsewhere)), env=NO_ENV)
    conf = tmp_path / "conf"
    assert cfg.watch_dirs[0].path == str(tmp_path / "cams")
    assert cfg.state_dir == str(conf / "state")
    assert cfg.logging.file == str(conf / "logs" / "c.log")
    assert cfg.after_upload.move_to == str(conf / "done")


def test_absolute_paths_stay(write_config, tmp_path) -> None:
    target = tmp_path / "abs" / "cams"
    cfg = _load(write_config, f"watch_dir: '{target}'\nbucket: my-bucket\n")
    assert cfg.watch_dirs[0].path == str(target)


# ---- environment overrides --------------------------------------------------------------------
def test_env_overrides(write_config, tmp_path) -> None:
    env = {"CAMUP_BUCKET": "env-bucket", "CAMUP_PREFIX": "envp/", "CAMUP_WATCH_DIR": "/srv/cams",
           "CAMUP_ENDPOINT_URL": "http://127.0.0.1:9000"}
    cfg = _load(write_config, MINIMAL + "prefix: filep/\nremote: {endpoint_url: 'http://x:1'}\n", env)
    assert cfg.bucket == "env-bucket"
    assert cfg.prefix == "envp/"
    assert cfg.watch_dirs == (WatchDir("/srv/cams", "envp/"),)
    assert cfg.remote.endpoint_url == "http://127.0.0.1:9000"


def test_env_watch_dir_replaces_a_watch_dirs_list(write_config) -> None:
    text = "bucket: my-bucket\nwatch_dirs: [{path: a}, {path: b}]\n"
    cfg = _load(write_config, text, {"CAMUP_WATCH_DIR": "/srv/cams"})
    assert [w.path for w in cfg.watch_dirs] == ["/srv/cams"]


def test_env_supplies_the_required_keys(write_config) -> None:
    cfg = _load(write_config, "", {"CAMUP_BUCKET": "env-bucket", "CAMUP_WATCH_DIR": "/srv/cams"})
    assert (cfg.bucket, cfg.watch_dirs[0].path) == ("env-bucket", "/srv/cams")


def test_empty_env_values_do_not_override(write_config) -> None:
    cfg = _load(write_config, MINIMAL, {"CAMUP_BUCKET": "", "CAMUP_ENDPOINT_URL": ""})
    assert (cfg.bucket, cfg.remote.endpoint_url) == ("my-bucket", None)


def test_env_is_not_read_when_given_explicitly(write_config, monkeypatch) -> None:
    monkeypatch.setenv("CAMUP_BUCKET", "from-process-env")
    assert _load(write_config, MINIMAL, {}).bucket == "my-bucket"
    assert load(write_config(MINIMAL)).bucket == "from-process-env"


# ---- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "names", "suggests"),
    [
        ("watch_dri: x\n", "watch_dri", "watch_dir"),
        ("buckets: x\n", "buckets", "bucket"),
        ("stability: {check: 3}\n", "stability.check", "checks"),
        ("stability: {settle: 3}\n", "stability.settle", "settle_seconds"),
        ("retry: {max_retries: 3}\n", "retry.max_retries", "max_attempts"),
        ("transfer: {max_bandwith: 1}\n", "transfer.max_bandwith", "max_bandwidth"),
        ("remote: {endpoint: x}\n", "remote.endpoint", "endpoint_url"),
        ("watch_dirs: [{path: a, prefx: b}]\n", "watch_dirs[0].prefx", "prefix"),
    ],
)
def test_unknown_key_is_named_with_the_nearest(write_config, text, names, suggests) -> None:
    message = _error(write_config, "bucket: my-bucket\nwatch_dir: cams\n" + text
                     if not text.startswith("watch_dirs") else "bucket: my-bucket\n" + text)
    assert f'"{names}"' in message
    assert f'"{suggests}"' in message


def test_unknown_key_without_a_near_one_lists_the_valid_keys(write_config) -> None:
    message = _error(write_config, MINIMAL + "retry: {zzzzzz: 1}\n")
    assert '"retry.zzzzzz"' in message and "max_attempts" in message


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("stability: {checks: two}\n", "stability.checks"),
        ("stability: {checks: 2.5}\n", "stability.checks"),
        ("recursive: 'yes please'\n", "recursive"),
        ("interval_seconds: '60'\n", "interval_seconds"),
        ("extensions: 5\n", "extensions"),
        ("extensions: [.mp4, 5]\n", "extensions"),
        ("order: random\n", "order"),
        ("remote: {on_conflict: rename}\n", "remote.on_conflict"),
        ("remote: {checksum: md5}\n", "remote.checksum"),
        ("remote: {sse: aes}\n", "remote.sse"),
        ("logging: {level: LOUD}\n", "logging.level"),
        ("after_upload: {action: shred}\n", "after_upload.action"),
        ("stability: 5\n", "stability"),
        ("prefix: [a]\n", "prefix"),
        ("key_template: 5\n", "key_template"),
        ("transfer: {max_bandwidth: [1]}\n", "transfer.max_bandwidth"),
    ],
)
def test_wrong_types_and_values_name_the_key(write_config, text, names) -> None:
    message = _error(write_config, MINIMAL + text)
    assert names in message


@pytest.mark.parametrize(
    ("text", "names"),
    [("retry: {max_attempts: true}\n", "retry.max_attempts"),
     ("transfer: {parallel_files: false}\n", "transfer.parallel_files"),
     ("stability: {checks: true}\n", "stability.checks"),
     ("stability: {settle_seconds: true}\n", "stability.settle_seconds"),
     ("interval_seconds: true\n", "interval_seconds"),
     ("transfer: {max_bandwidth: true}\n", "transfer.max_bandwidth")],
)
def test_bool_is_not_a_number(write_config, text: str, names: str) -> None:
    message = _error(write_config, MINIMAL + text)
    assert names in message and "must be" in message


def test_fractions_allowed_for_durations(write_config) -> None:
    cfg = _load(write_config, MINIMAL + (
        "interval_seconds: 2.5\nstability: {settle_seconds: 0.5, min_age_seconds: 0.25}\n"
        "remote: {relist_hours: 0.5}\nretry: {base_delay_seconds: 0.1, max_delay_seconds: 1.5}\n"
        "after_upload: {min_age_hours: 1.5}\n"))
    assert cfg.stability.settle_seconds == 0.5
    assert cfg.stability.min_age_seconds == 0.25
    assert cfg.interval_seconds == 2.5
    assert cfg.remote.relist_hours == 0.5
    assert (cfg.retry.base_delay_seconds, cfg.retry.max_delay_seconds) == (0.1, 1.5)
    assert cfg.after_upload.min_age_hours == 1.5


def test_whole_numbers_become_floats_for_float_keys(write_config) -> None:
    cfg = _load(write_config, MINIMAL + "stability: {settle_seconds: 3}\n")
    assert cfg.stability.settle_seconds == 3.0 and isinstance(cfg.stability.settle_seconds, float)


def test_invalid_yaml_says_the_line(write_config) -> None:
    message = _error(write_config, "bucket: my-bucket\nwatch_dir: cams\nstability:\n  checks: [2\n"
                     "  settle_seconds: 1\nfoo: : :\n")
    assert "not valid YAML" in message
    assert "line " in message
    line = int(message.split("line ", 1)[1].split(",", 1)[0])
    assert 4 <= line <= 6


def test_invalid_yaml_tab_indent_line(write_config) -> None:
    message = _error(write_config, "bucket: my-bucket\nwatch_dir: cams\nstability:\n\tchecks: 2\n")
    assert "line 4" in message


def test_double_quoted_windows_path_is_invalid_yaml_with_a_hint(write_config) -> None:
    message = _error(write_config, 'bucket: my-bucket\nwatch_dir: "C:\\xBlue"\n')
    assert "line 2" in message and "single quotes" in message


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("watch_dir: cams\n", "no bucket"),
        ("watch_dir: cams\nbucket: ''\n", "no bucket"),
        ("bucket: my-bucket\n", "no watch_dir"),
        ("bucket: my-bucket\nwatch_dirs: []\n", "no watch_dir"),
        ("bucket: my-bucket\nwatch_dir: a\nwatch_dirs: [b]\n", "not both"),
        ("bucket: my-bucket\nwatch_dirs: [{prefix: x}]\n", "watch_dirs[0]"),
        ("bucket: My_Bucket!\nwatch_dir: a\n", "not a valid S3 bucket name"),
        ("", "no bucket"),
        ("- a\n- b\n", "mapping"),
    ],
)
def test_missing_or_malformed_required_keys(write_config, text: str, needle: str) -> None:
    assert needle in _error(write_config, text)


def test_missing_config_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "nope.yaml", env=NO_ENV)


def test_config_path_from_env(write_config, tmp_path, monkeypatch) -> None:
    path = write_config(MINIMAL, name="other.yaml")
    monkeypatch.chdir(tmp_path.parent)
    assert load(None, env={"CAMUP_CONFIG": str(path)}).source == str(path)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2MB/s", 2_000_000), ("2 MB/s", 2_000_000), ("512KiB/s", 512 * 1024), ("1.5MB/s", 1_500_000),
     ("10M", 10_000_000), ("1GiB/s", 1024**3), ("800kb/s", 800_000), ("100", 100), (100, 100),
     (2.5e6, 2_500_000), ("3 b/s", 3)],
)
def test_parse_rate(value, expected: int) -> None:
    assert parse_rate(value) == expected


@pytest.mark.parametrize("value", ["fast", "2 MB/min", "-1MB/s", "0MB/s", "MB/s", "", 0, -5, 0.4,
                                   float("inf"), "0.4"])
def test_parse_rate_rejects(value) -> None:
    with pytest.raises(ConfigError, match="max_bandwidth"):
        parse_rate(value)


def test_max_bandwidth_in_the_config(write_config) -> None:
    cfg = _load(write_config, MINIMAL + "transfer: {max_bandwidth: 2MB/s}\n")
    assert cfg.transfer.bandwidth_bytes == 2_000_000
    assert _load(write_config, MINIMAL).transfer.bandwidth_bytes is None
    assert "max_bandwidth" in _error(write_config, MINIMAL + "transfer: {max_bandwidth: lots}\n")
    assert "max_bandwidth" in _error(write_config, MINIMAL + "transfer: {max_bandwidth: 0}\n")


def test_bandwidth_schedule_budget_memory_and_priority_in_the_config(write_config) -> None:
    cfg = _load(write_config, MINIMAL + 'transfer:\n  bandwidth_schedule: ["Mon-Fri 07:00-23:00 1MB/s",'
                ' "* 01:00-05:00 off"]\n  daily_budget: 5GB\n  max_memory_mb: 16\n'
                'priority: ["*.jpg", "doorbell/*"]\n')
    assert cfg.transfer.bandwidth_schedule == ("Mon-Fri 07:00-23:00 1MB/s", "* 01:00-05:00 off")
    assert cfg.transfer.budget_bytes == 5_000_000_000
    assert cfg.transfer.max_memory_mb == 16
    assert cfg.priority == ("*.jpg", "doorbell/*")
    minimal = _load(write_config, MINIMAL)
    assert (minimal.transfer.bandwidth_schedule, minimal.transfer.budget_bytes,
            minimal.transfer.max_memory_mb, minimal.priority) == ((), None, 64.0, ("*.jpg",))
    assert _load(write_config, MINIMAL + "priority: '*.jpg'\n").priority == ("*.jpg",)
    assert _load(write_config, MINIMAL + "priority: []\n").priority == ()  # none


@pytest.mark.parametrize(("text", "says"), [
    ('transfer: {bandwidth_schedule: ["Mon-Fri 07:00-23:00 1MB/s", "Mon-Fry 07:00-09:00 off"]}\n',
     'transfer.bandwidth_schedule entry "Mon-Fry 07:00-09:00 off": unknown day'),
    ('transfer: {bandwidth_schedule: ["* 7h-9h 1MB/s"]}\n', '"7h" is not a time of day'),
    ('transfer: {bandwidth_schedule: ["* 07:00-09:00 quick"]}\n', "'quick' is not a rate"),
    ("transfer: {bandwidth_schedule: 5}\n", "transfer.bandwidth_schedule must be a list"),
    ("transfer: {daily_budget: lots}\n", "transfer.daily_budget: 'lots' is not a size"),
    ("transfer: {daily_budget: 0.5}\n", "transfer.daily_budget"),
    ("transfer: {daily_budget: true}\n", "transfer.daily_budget"),
    ("transfer: {max_memory_mb: 0}\n", "transfer.max_memory_mb must be between 1"),
    ("transfer: {max_memory_mb: 1000000000000}\n", "transfer.max_memory_mb must be between 1"),
    ("priority: ['*.jpg', '']\n", "priority holds an empty pattern"),
    ("priority: {a: 1}\n", "priority must be a list"),
    ("priorty: ['*.jpg']\n", 'did you mean "priority"'),
])
def test_bad_bandwidth_budget_memory_and_priority_are_one_sentence(write_config, text: str,
                                                                    says: str) -> None:
    assert says in _error(write_config, MINIMAL + text)


def test_the_smallest_daily_budget_design_admits(write_config) -> None:
    assert _load(write_config, MINIMAL + "transfer: {daily_budget: 1MB}\n").transfer.budget_bytes == 10**6


@pytest.mark.parametrize(("size", "ok"), [(4, False), (4.99, False), (5, True), (8, True)])
def test_multipart_chunksize_minimum(write_config, size, ok: bool) -> None:
    text = MINIMAL + f"transfer: {{multipart_chunksize_mb: {size}}}\n"
    if ok:
        assert _load(write_config, text).transfer.chunk_bytes == int(size * 1024 * 1024)
    else:
        assert "multipart_chunksize_mb" in _error(write_config, text)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("stability: {checks: 0}\n", "stability.checks"),
        ("retry: {max_attempts: 0}\n", "retry.max_attempts"),
        ("transfer: {parallel_files: 0}\n", "transfer.parallel_files"),
        ("transfer: {parallel_small_files: -1}\n", "transfer.parallel_small_files"),
        ("transfer: {max_concurrency: -1}\n", "transfer.max_concurrency"),
        ("interval_seconds: 0\n", "interval_seconds"),
        ("stability: {settle_seconds: -1}\n", "stability.settle_seconds"),
        ("stability: {min_age_seconds: -0.5}\n", "stability.min_age_seconds"),
        ("transfer: {multipart_threshold_mb: 0}\n", "transfer.multipart_threshold_mb"),
        ("after_upload: {action: move}\n", "move_to"),
        ("after_upload: {action: move, move_to: cams/done}\n", "inside watch dir"),
        ("exclude: ['']\n", "empty pattern"),
    ],
)
def test_out_of_range_values(write_config, text: str, names: str) -> None:
    assert names in _error(write_config, MINIMAL + text)


def test_config_is_frozen(write_config) -> None:
    cfg = _load(write_config, MINIMAL)
    with pytest.raises(AttributeError):
        cfg.bucket = "other"  # type: ignore[misc]


# ---- key_template is checked at load ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("template", "needle"),
    [("{prefix}{cam}/{name}", "{cam}"), ("{prefix}{camera}/{nosuch}", "{nosuch}"),
     ("{prefix}{0}", "numbered"), ("{prefix}{name", "not a valid template"),
     ("{mtime:%Y", "not a valid template"), ("{name.nosuch}", "not a valid template"),
     ("{name:%Y}", "not a valid template")],
)
def test_a_bad_key_template_is_a_config_error_naming_the_field(write_config, template, needle) -> None:
    message = _error(write_config, MINIMAL + f"key_template: '{template}'\n")
    assert message.startswith("key_template")
    assert needle in message
    assert "valid fields are: prefix, rel, dir, name, stem, ext, camera, mtime" in message


@pytest.mark.parametrize("template", ["{prefix}{camera}/{mtime:%Y/%m/%d}/{name}", "{prefix}{rel}",
                                      "{prefix}{stem}-{mtime:%H%M%S}{ext}", "fixed/{name}"])
def test_good_key_templates_load(write_config, template: str) -> None:
    assert _load(write_config, MINIMAL + f"key_template: '{template}'\n").key_template == template


# ---- after_upload.move_to against the watch dirs, by Windows and POSIX rules ------------------------
@pytest.mark.parametrize(
    ("pathmod", "path", "folder", "inside"),
    [
        (ntpath, r"D:\Archive", r"C:\BlueIris\New", False),  # other drive: commonpath raises
        (ntpath, r"D:\BlueIris\New\done", r"C:\BlueIris\New", False),
        (ntpath, r"\\nas\archive", r"C:\BlueIris\New", False),  # UNC vs drive
        (ntpath, r"C:\BlueIris\New\done", r"C:\BlueIris\New", True),
        (ntpath, r"c:\blueiris\NEW\Done", r"C:\BlueIris\New", True),  # case-insensitive
        (ntpath, "C:/BlueIris/New/done", r"C:\BlueIris\New", True),  # either slash
        (ntpath, r"C:\BlueIris\New", r"C:\BlueIris\New", True),
        (ntpath, r"C:\BlueIris\Newer", r"C:\BlueIris\New", False),  # a prefix is not a parent
        (ntpath, r"C:\BlueIris", r"C:\BlueIris\New", False),  # the parent is outside
        (posixpath, "/srv/archive", "/srv/cams", False),
        (posixpath, "/srv/cams/done", "/srv/cams", True),
        (posixpath, "/srv/cams", "/srv/cams", True),
        (posixpath, "/srv/camsold", "/srv/cams", False),
        (posixpath, "/SRV/cams/done", "/srv/cams", False),  # POSIX is case-sensitive
    ],
)
def test_path_inside(pathmod, path: str, folder: str, inside: bool) -> None:
    assert path_inside(path, folder, pathmod) is inside


def test_move_to_outside_the_watch_dir_loads(write_config, tmp_path) -> None:
    cfg = _load(write_config, MINIMAL + "after_upload: {action: move, move_to: archive}\n")
    assert cfg.after_upload.move_to == str(tmp_path / "archive")


# ---- non-finite numbers and logging values that loguru cannot parse ---------------------------------
NON_FINITE_KEYS = ["interval_seconds", "stability.settle_seconds", "stability.min_age_seconds",
                   "remote.relist_hours", "retry.base_delay_seconds", "retry.max_delay_seconds",
                   "after_upload.min_age_hours", "transfer.multipart_threshold_mb",
                   "transfer.multipart_chunksize_mb", "transfer.max_bandwidth"]


def _set(key: str, value: str) -> str:
    section, _, name = key.rpartition(".")
    return f"{section}: {{{name}: {value}}}\n" if section else f"{key}: {value}\n"


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", ".NaN", ".Inf"])
@pytest.mark.parametrize("key", NON_FINITE_KEYS)
def test_non_finite_numbers_are_rejected_naming_the_key(write_config, key: str, value: str) -> None:
    message = _error(write_config, MINIMAL + _set(key, value))
    assert key in message


def test_non_finite_message_is_a_sentence(write_config) -> None:
    message = _error(write_config, MINIMAL + "stability: {min_age_seconds: .nan}\n")
    assert message.startswith("stability.min_age_seconds must be a finite number")


def test_a_whole_number_too_big_for_a_float_is_rejected(write_config) -> None:
    message = _error(write_config, MINIMAL + "interval_seconds: " + "9" * 400 + "\n")
    assert "interval_seconds" in message and "finite" in message


@pytest.mark.parametrize(("text", "names"), [("retry: {max_delay_seconds: -1}\n", "retry.max_delay_seconds"),
                                             ("remote: {relist_hours: -2}\n", "remote.relist_hours")])
def test_more_durations_must_not_be_negative(write_config, text: str, names: str) -> None:
    assert names in _error(write_config, MINIMAL + text)


@pytest.mark.parametrize(
    ("text", "names"),
    [("logging: {rotation: 10 parsecs}\n", "logging.rotation"),
     ("logging: {rotation: whenever}\n", "logging.rotation"),
     ("logging: {rotation: ''}\n", "logging.rotation"),
     ("logging: {retention: forever}\n", "logging.retention"),
     ("logging: {retention: 14 dayz}\n", "logging.retention"),
     ("logging: {file: cam.log, retention: '1 eon'}\n", "logging.retention")],
)
def test_logging_rotation_and_retention_are_checked_at_load(write_config, text: str, names: str) -> None:
    message = _error(write_config, MINIMAL + text)
    assert message.startswith(names) and "such as" in message


@pytest.mark.parametrize(("rotation", "retention"), [("10 MB", "14 days"), ("1 week", "1 month"),
                                                     ("00:00", "2 weeks"), ("500 KB", "1 day"),
                                                     ("monday at 12:00", "10 days")])
def test_logging_values_loguru_understands_load(write_config, tmp_path, rotation, retention) -> None:
    cfg = _load(write_config, MINIMAL + f"logging: {{rotation: '{rotation}', retention: '{retention}'}}\n")
    assert (cfg.logging.rotation, cfg.logging.retention) == (rotation, retention)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"], "the check writes nothing"



# ---- notify: and after_upload.keep_free (issue 11) -----------------------------------------
NOTIFY_SAMPLE = """
notify:
  urls: []                          # Apprise URLs (ntfy://, tgram://, mailtos://, json://...)
  heartbeat_url: null               # POST (JSON summary) after every pass, before exit, bounded wait
  heartbeat_fail_url: null          # where a failed pass reports; default: heartbeat_url with "/fail" added to its path
  backlog_alert_minutes: 60         # a file ready but not uploaded this long since it was first seen ready
  failing_passes: 3
  repeat_hours: 12
after_upload:
  keep_free: null
"""  # noqa: E501 - verbatim from DESIGN.md


def test_the_design_notify_section_is_the_default(write_config) -> None:
    from reconciler.config import Notify

    cfg = _load(write_config, MINIMAL + NOTIFY_SAMPLE)
    assert cfg.notify == _load(write_config, MINIMAL).notify == Notify(
        urls=(), heartbeat_url=None, heartbeat_fail_url=None, backlog_alert_minutes=60.0,
        failing_passes=3, repeat_hours=12.0)
    assert cfg.after_upload.keep_free is None and cfg.after_upload.keep_free_parsed is None


def test_notify_values_load(write_config) -> None:
    cfg = _load(write_config, MINIMAL + "notify:\n  urls: ntfy://my-topic\n"
                "  heartbeat_url: https://hc-ping.com/abc\n  repeat_hours: 0.5\n")
    assert cfg.notify.urls == ("ntfy://my-topic",)
    assert cfg.notify.heartbeat_url == "https://hc-ping.com/abc"
    assert cfg.notify.repeat_hours == 0.5


# ---- issue 8: keys, ranges, URLs, overlapping folders, the default state dir ------------------------
@pytest.mark.parametrize(
    ("text", "needle"),
    [("prefix: /cams/\n", "start with '/'"), ("prefix: cams//\n", "empty"),
     ("prefix: ../up/\n", "'..'"),
     ("key_template: '{dir}/{stem}-{mtime:%H%M%S}{ext}'\n", "start with '/'"),  # top-level files
     ("prefix: cams/\nkey_template: '{prefix}{dir}/{name}'\n", "empty"),
     ("watch_dirs: [{path: cams, prefix: 'a//'}]\n", "watch_dirs[0].prefix"),
     ("prefix: 'cams/_camup/'\nkey_template: '{prefix}x/{name}'\n", None)],
)
def test_a_prefix_or_template_that_can_make_a_bad_key_is_a_config_error(write_config, text, needle) -> None:
    if needle is None:  # under another prefix's _camup/ is the user's business: fine
        _load(write_config, MINIMAL + text)
        return
    message = _error(write_config, MINIMAL.replace("watch_dir: cams\n", "" if "watch_dirs" in text
                                                   else "watch_dir: cams\n") + text)
    assert needle in message and "gives keys such as" in message


@pytest.mark.parametrize(
    ("text", "names"),
    [("transfer: {parallel_files: 1000000000000}\n", "transfer.parallel_files"),
     ("transfer: {max_concurrency: 1000000000}\n", "transfer.max_concurrency"),
     ("transfer: {parallel_files: 65}\n", "transfer.parallel_files"),
     ("transfer: {parallel_small_files: 65}\n", "transfer.parallel_small_files"),
     ("stability: {settle_seconds: 1.0e+12}\n", "stability.settle_seconds"),
     ("stability: {settle_seconds: 3601}\n", "stability.settle_seconds"),
     ("transfer: {multipart_threshold_mb: 5121}\n", "transfer.multipart_threshold_mb"),
     ("transfer: {multipart_threshold_mb: 4}\n", "transfer.multipart_threshold_mb"),
     ("transfer: {multipart_chunksize_mb: 6000}\n", "transfer.multipart_chunksize_mb"),
     ("interval_seconds: 0.5\n", "interval_seconds"),
     ("stability: {checks: 1000}\n", "stability.checks"),
     ("retry: {max_attempts: 10000}\n", "retry.max_attempts"),
     ("remote: {relist_hours: 100000}\n", "remote.relist_hours"),
     ("after_upload: {min_age_hours: 1.0e+300}\n", "after_upload.min_age_hours")],
)
def test_every_number_has_a_range(write_config, text: str, names: str) -> None:
    message = _error(write_config, MINIMAL + text)
    assert message.startswith(names + " must be between"), message


def test_the_ranges_admit_the_documented_small_values(write_config) -> None:
    cfg = _load(write_config, MINIMAL + "interval_seconds: 1\nstability: {settle_seconds: 0, "
                "min_age_seconds: 0}\nretry: {base_delay_seconds: 0}\n"
                "transfer: {multipart_threshold_mb: 5, multipart_chunksize_mb: 5120}\n")
    assert (cfg.interval_seconds, cfg.stability.settle_seconds) == (1, 0)


def test_every_default_is_inside_its_range() -> None:
    for cls in (Stability, Remote, Transfer, Retry, AfterUpload, Logging, Live, Notify, Config):
        for f in fields(cls):
            bounds = f.metadata.get("bounds")
            if bounds:
                assert bounds[0] <= f.default <= bounds[1], f"{cls.__name__}.{f.name}"


def test_ranges_come_from_the_field_metadata_in_one_check() -> None:
    numbers = [f for cls in (Stability, Remote, Transfer, Retry, AfterUpload, Live, Notify, Config)
               for f in fields(cls) if f.type in ("int", "float")]
    assert numbers and all(f.metadata.get("bounds") for f in numbers), \
        [f.name for f in numbers if not f.metadata.get("bounds")]


@pytest.mark.parametrize("url", ["not a url", "nas:9000", "ftp://nas", "http://", "http://nas:99999",
                                 "http://[::1", "//nas:9000"])
def test_endpoint_url_needs_a_scheme_and_a_host(write_config, url: str) -> None:
    message = _error(write_config, MINIMAL + f"remote: {{endpoint_url: '{url}'}}\n")
    assert message.startswith("remote.endpoint_url") and "http://nas:9000" in message


def test_endpoint_url_error_never_shows_a_password(write_config) -> None:
    message = _error(write_config, MINIMAL + "remote: {endpoint_url: 'ftp://me:s3cret@nas'}\n")
    assert "s3cret" not in message


@pytest.mark.parametrize("url", ["http://nas:9000", "https://s3.example.com/", "HTTP://NAS",
                                 "http://[::1]:8333", "http://u:p@127.0.0.1:8333"])
def test_good_endpoint_urls_load(write_config, url: str) -> None:
    assert _load(write_config, MINIMAL + f"remote: {{endpoint_url: '{url}'}}\n").remote.endpoint_url == url


@pytest.mark.parametrize(
    ("dirs", "needle"),
    [("[cams, cams]", "same folder"), ("[cams, ./cams/]", "same folder"),
     ("[cams, cams/front]", "inside"), ("[cams/front, cams]", "inside"),
     ("[cams, link]", "same folder")],
)
def test_overlapping_watch_dirs_are_config_errors(write_config, tmp_path, dirs: str, needle: str) -> None:
    (tmp_path / "cams" / "front").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "cams")
    message = _error(write_config, f"watch_dirs: {dirs}\nbucket: my-bucket\n")
    assert needle in message and "watch_dirs[0]" in message


def test_sibling_watch_dirs_load(write_config, tmp_path) -> None:
    cfg = _load(write_config, "watch_dirs: [cams, cams2, other/cams]\nbucket: my-bucket\n")
    assert len(cfg.watch_dirs) == 3


@pytest.mark.parametrize("text", ["watch_dir: ''\n", "watch_dir: ' '\n", "watch_dirs: [{path: ''}]\n"])
def test_an_empty_watch_dir_is_an_error_not_the_config_folder(write_config, text: str) -> None:
    assert "is empty" in _error(write_config, text + "bucket: my-bucket\n")


@pytest.mark.parametrize(("name", "state"), [("config.yaml", ".camup"), ("garage.yaml", ".camup-garage"),
                                             ("Front Door.yml", ".camup-Front Door")])
def test_the_default_state_dir_is_distinct_per_config_file(write_config, tmp_path, name, state) -> None:
    cfg = load(write_config(MINIMAL, name), env=NO_ENV)
    assert cfg.state_dir == str(tmp_path / state)
    explicit = load(write_config(MINIMAL + "state_dir: shared\n", name), env=NO_ENV)
    assert explicit.state_dir == str(tmp_path / "shared")


# ---- move_to and the watch dirs are compared by where they really lead -----------------------------
def test_move_to_through_a_symlink_into_the_watch_dir_is_refused(write_config, tmp_path) -> None:
    (tmp_path / "cams" / "done").mkdir(parents=True)
    (tmp_path / "archive").symlink_to(tmp_path / "cams" / "done", target_is_directory=True)

    message = _error(write_config, MINIMAL + "after_upload: {action: move, move_to: archive}\n")

    assert "inside watch dir" in message and "leads to" in message


def test_move_to_another_spelling_of_the_watch_dir_is_refused(write_config, tmp_path) -> None:
    (tmp_path / "cams").mkdir()
    message = _error(write_config, MINIMAL + "after_upload: {action: move, move_to: ./x/../cams/}\n")
    assert "inside watch dir" in message


def test_a_watch_dir_reached_through_a_link_is_compared_by_its_real_path(write_config, tmp_path) -> None:
    (tmp_path / "real" / "done").mkdir(parents=True)
    (tmp_path / "cams").symlink_to(tmp_path / "real", target_is_directory=True)
    text = MINIMAL + f"after_upload: {{action: move, move_to: '{tmp_path}/real/done'}}\n"
    message = _error(write_config, text)
    assert "inside watch dir" in message


def test_a_watch_dir_inside_move_to_is_refused(write_config, tmp_path) -> None:
    message = _error(write_config, "watch_dir: archive/new\nbucket: my-bucket\n"
                     "after_upload: {action: move, move_to: archive}\n")
    assert "is inside after_upload.move_to" in message


def test_move_to_beside_the_watch_dir_is_fine(write_config, tmp_path) -> None:
    (tmp_path / "cams").mkdir()
    (tmp_path / "stored").symlink_to(tmp_path / "elsewhere", target_is_directory=True)  # dangling is fine
    cfg = _load(write_config, MINIMAL + "after_upload: {action: move, move_to: stored}\n")
    assert cfg.after_upload.move_to == str(tmp_path / "stored")



# ---- live: (DESIGN section 1) -------------------------------------------------------------------
def test_live_defaults_and_the_smallest_documented_values(write_config) -> None:
    assert _load(write_config, MINIMAL).live == Live(enabled=False, after_seconds=60.0,
                                                     interval_seconds=60.0, min_segment_mb=1.0)
    cfg = _load(write_config, MINIMAL + "live:\n  enabled: true\n  after_seconds: 1\n"
                "  interval_seconds: 1\n  min_segment_mb: 0.1\n")
    assert cfg.live == Live(True, 1.0, 1.0, 0.1)
    assert cfg.live.min_segment_bytes == int(0.1 * 1024 * 1024)


@pytest.mark.parametrize(("text", "words"), [
    ("live:\n  interval_seconds: 0\n", "live.interval_seconds must be between 0.1 and 86400"),
    ("live:\n  min_segment_mb: 0\n", "live.min_segment_mb must be between 0.01 and 5120"),
    ("live:\n  after_seconds: -1\n", "live.after_seconds must be between 0 and 86400"),
    ("live:\n  enabled: yes please\n", "live.enabled must be true or false"),
    ("live:\n  after_second: 5\n", 'did you mean "after_seconds"'),
])
def test_live_ranges_are_checked_at_load(write_config, text: str, words: str) -> None:
    assert words in _error(write_config, MINIMAL + text)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("notify: {failing_passes: 0}\n", "notify.failing_passes"),
        ("notify: {repeat_hours: 0}\n", "notify.repeat_hours"),
        ("notify: {backlog_alert_minutes: -5}\n", "notify.backlog_alert_minutes"),
        ("notify: {urls: [my-topic]}\n", "notify.urls[0]"),
        ("notify: {heartbeat_url: 'ftp://x/y'}\n", "notify.heartbeat_url"),
        ("notify: {heartbeat_fail_url: 'hc-ping.com/x'}\n", "notify.heartbeat_fail_url"),
        ("notify: {hearbeat_url: x}\n", 'did you mean "heartbeat_url"'),
        ("after_upload: {keep_free: lots}\n", "after_upload.keep_free"),
        ("after_upload: {keep_free: '150%'}\n", "after_upload.keep_free"),
        ("after_upload: {keep_free: '0%'}\n", "after_upload.keep_free"),
        ("after_upload: {keep_free: 0}\n", "after_upload.keep_free"),
    ],
)
def test_bad_notify_and_keep_free_values_name_the_key(write_config, text: str, names: str) -> None:
    assert names in _error(write_config, MINIMAL + text)


def test_a_bad_notify_url_is_not_echoed(write_config) -> None:
    message = _error(write_config, MINIMAL + "notify: {urls: ['secret-token-123']}\n")
    assert "secret-token-123" not in message


@pytest.mark.parametrize(("value", "parsed"), [("50GB", ("bytes", 50e9)), ("10%", ("percent", 10.0)),
                                               ("512MiB", ("bytes", 512 * 1024**2)),
                                               (1000, ("bytes", 1000.0))])
def test_keep_free_forms(write_config, value, parsed) -> None:
    cfg = _load(write_config, MINIMAL + f"after_upload: {{keep_free: {value!r}}}\n")
    assert cfg.after_upload.keep_free_parsed == parsed
