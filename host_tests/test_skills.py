# The system prompt's skills list (agent/context.py) and daily notes (agent/request.py):
# front matter parsed from the first bytes only, the 1 KB cap and its note, SKILL.md without
# or with a bad front matter, odd folders; today's and yesterday's notes in the owner's time
# zone, each capped. Shared: runs under pytest and again on the unix port from .mpy
# (test_skills_on_the_unix_port at the end).
import json
import os

from mptest import MICROPYTHON, skip

from picoclaw.agent import request
from picoclaw.clock import civil_from_days, now
from picoclaw.json.files import FileOut

TMP = "/tmp/picoclaw-skills-test"


def _rm(p):
    try:
        if os.stat(p)[0] & 0x4000:
            for e in os.ilistdir(p):
                _rm(p + "/" + e[0])
            os.rmdir(p)
        else:
            os.remove(p)
    except OSError:
        pass


def _mk(p):
    cur = ""
    for part in p.split("/"):
        cur = cur + "/" + part if cur or not part else part
        if cur:
            try:
                os.mkdir(cur)
            except OSError:
                pass


def _put(path, data):
    i = path.rfind("/")
    _mk(path[:i])
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


class _Agent:
    chat_id = 42
    session = None

    def __init__(self, ws, tz=""):
        self.workspace = ws
        self.tz = tz
        self.linebuf = bytearray(256)
        self.small = bytearray(128)


def _ws():
    _mk("/tmp")
    _rm(TMP)
    _mk(TMP + "/ws")
    return TMP + "/ws"


def _prompt(a):
    """The system prompt write_system makes for agent a, as a str."""
    path = TMP + "/prompt"
    with open(path, "wb") as f:
        w = FileOut(f, bytearray(32))
        request.write_system(a, w)
        w._flush()
    with open(path, "rb") as f:
        return json.loads(b'"' + f.read() + b'"')


def _skill(ws, folder, text):
    _put("%s/skills/%s/SKILL.md" % (ws, folder), text)


def test_skills_listed_with_name_description_and_path():
    ws = _ws()
    _skill(ws, "weather", "---\nname: weather\ndescription: Current weather from wttr.in.\n---\n# Weather\n"
           + "Use web_fetch on https://wttr.in/?format=3\n" * 200)
    _skill(ws, "pins", '---\r\nname: "pins"\r\ndescription: \'Which GPIO pins do what\'\r\n---\r\nbody\r\n')
    p = _prompt(_Agent(ws))
    assert "\n\n## Skills\n" in p and "read_file" in p
    assert "\n- weather: Current weather from wttr.in. (skills/weather/SKILL.md)" in p
    assert "\n- pins: Which GPIO pins do what (skills/pins/SKILL.md)" in p
    assert "wttr.in/?format=3" not in p  # only the front matter is read, never the body
    assert "memory/YYYYMM/YYYYMMDD.md" in p  # where daily notes go


def test_skill_without_or_with_a_bad_front_matter_is_listed_by_its_folder():
    ws = _ws()
    _skill(ws, "plain", "# Plain\n\nJust instructions, no front matter.\n")
    _skill(ws, "unclosed", "---\nname: unclosed\ndescription: never closed\n")
    _skill(ws, "nodesc", "---\nname: nodesc\n---\nbody\n")
    _skill(ws, "empty", "")
    _skill(ws, "binary", b"\xff\xfe\x00\x01---\n\x00")
    p = _prompt(_Agent(ws))
    note = ": (no description: SKILL.md has no front matter)"
    for f in ("plain", "unclosed", "nodesc", "empty", "binary"):
        assert "\n- %s%s (skills/%s/SKILL.md)" % (f, note, f) in p, f


def test_a_long_front_matter_is_read_only_as_far_as_the_buffer():
    ws = _ws()
    # the description runs past the 256-byte buffer, with a multi-byte character at the cut
    _skill(ws, "long", "---\nname: long\ndescription: " + "\u00e9" * 300 + "\n---\n")
    p = _prompt(_Agent(ws))
    line = [s for s in p.split("\n") if s.startswith("- long: ")][0]
    assert line.endswith(" (skills/long/SKILL.md)") and "\u00e9" * 100 in line
    assert len(line.encode()) < 300


def test_odd_entries_in_the_skills_folder():
    ws = _ws()
    _put(ws + "/skills/README.md", "a file, not a skill folder")
    _mk(ws + "/skills/no-skill-file")
    _skill(ws, "ends with dot.", "---\nname: x\ndescription: refused by read_file\n---\n")
    _skill(ws, ".hidden", "---\nname: x\ndescription: hidden\n---\n")
    _skill(ws, "caf\u00e9 \"q\"", "---\nname: cafe\ndescription: odd but readable\n---\n")
    p = _prompt(_Agent(ws))
    assert "README" not in p and "no-skill-file" not in p and "refused" not in p and "hidden" not in p
    assert "\n- cafe: odd but readable (skills/caf\u00e9 \"q\"/SKILL.md)" in p


def test_skills_folder_that_is_a_file_or_empty_adds_nothing():
    ws = _ws()
    _put(ws + "/skills", "not a folder")
    assert "## Skills" not in _prompt(_Agent(ws))
    _rm(ws + "/skills")
    _mk(ws + "/skills")
    assert "## Skills" not in _prompt(_Agent(ws))


def test_skills_past_the_cap_are_counted():
    ws = _ws()
    for i in range(30):
        _skill(ws, "skill-%02d" % i, "---\nname: skill-%02d\ndescription: %s\n---\n" % (i, "d" * 60))
    p = _prompt(_Agent(ws))
    sect = p[p.index("## Skills"):]
    shown = sect.count("\n- skill-")
    assert 5 < shown < 30
    assert sect.endswith("\n%d more skills: list_dir skills" % (30 - shown))
    assert len(sect.encode()) < 1024 + 200


def _daily(ws, d, text):
    y, m, dd = civil_from_days(d)
    path = "memory/%04d%02d/%04d%02d%02d.md" % (y, m, y, m, dd)
    _put(ws + "/" + path, text)
    return path


def test_today_and_yesterday_notes_in_the_prompt_capped():
    ws = _ws()
    today = now() // 86400
    p_today = _daily(ws, today, "# today\nbought milk\n" + "x" * 3000)
    p_yest = _daily(ws, today - 1, "# yesterday\nfixed the fence\n")
    p_old = _daily(ws, today - 2, "# two days ago\nold news\n")
    p = _prompt(_Agent(ws))
    assert ("\n\n## %s\n# today\nbought milk" % p_today) in p
    assert ("## %s\n# yesterday\nfixed the fence" % p_yest) in p
    assert "old news" not in p and p_old not in p
    i = p.index("## " + p_today)
    assert p.index("## " + p_yest) > i  # today's first
    part = p[i:p.index("## " + p_yest)]
    assert "x" * 900 in part and "x" * 1100 not in part and "[cut]" in part  # 1 KB each


def test_daily_notes_follow_the_owners_time_zone():
    ws = _ws()
    t = now()
    hour = t % 86400 // 3600
    # a zone whose date differs from UTC's at this hour: +14:00 from 10:00 UTC, -12:00 before 12:00
    tz, shift = ("+14:00", 1) if hour >= 10 else ("-12:00", -1)
    utc_day = t // 86400
    p_local = _daily(ws, utc_day + shift, "local day's notes\n")
    p_utc = _daily(ws, utc_day, "the UTC day's notes\n")
    p = _prompt(_Agent(ws, tz))
    assert "## " + p_local in p
    if shift == 1:  # local today is UTC's tomorrow: the UTC day is the local yesterday
        assert "## " + p_utc in p
    else:  # local today is UTC's yesterday
        assert "the UTC day's notes" not in p
    assert "local day's notes" in _prompt(_Agent(ws, tz))
    # without a zone: UTC
    p = _prompt(_Agent(ws))
    assert "the UTC day's notes" in p


def test_no_notes_no_skills_prompt_unchanged_shape():
    ws = _ws()
    p = _prompt(_Agent(ws))
    assert "## " not in p  # no workspace file, no daily notes, no skills: no section


def test_onboard_writes_an_example_skill_the_prompt_lists():
    from picoclaw.cmd import onboard

    ws = _ws()
    written = onboard.onboard(TMP + "/config.json", ws)
    assert ws + "/skills/weather/SKILL.md" in written
    p = _prompt(_Agent(ws))
    assert "\n- weather: Current weather and a short forecast for a place, from wttr.in (no key " \
        "needed). (skills/weather/SKILL.md)" in p
    assert "wttr.in/PLACE" not in p  # the instructions stay in the file until the model reads them


def test_skills_on_the_unix_port():
    if MICROPYTHON:
        skip("the driver of the unix port run (pytest only)")
    import unixport

    path = ":".join((unixport.build(), unixport.build_tests(["test_skills"]), ".frozen"))
    r = unixport.run(["-m", "mp_runner", "test_skills"], heap="64k", timeout=300, path=path)
    tail = r.stdout[-4000:] + r.stderr[-2000:]
    assert r.returncode == 0, tail
    last = r.stdout.strip().splitlines()[-1]
    assert " passed, 0 failed" in last and not last.startswith("0 passed"), tail
