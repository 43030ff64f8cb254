"""The Python SDK against the corpora every SDK passes, and its event and answer mapping
(``python3 -m unittest discover sdk/python``; the parts that need a component are tested by
hookhost's integration tests)."""

import json
import pathlib
import unittest

from hookhost_guest import (Agent, ConfigChange, Event, PostToolUse, PreToolUse, Stop, UserPromptSubmit,
                            allow, ask, block, context, defer, deny, none, parse_event, rewrite, system_message)
from hookhost_guest import _to_response
from hookhost_guest.paths import Rules, glob, relative
from hookhost_guest.shell import commands

HERE = pathlib.Path(__file__).parent
FIXTURES = HERE / "../../tests/fixtures/claude-code-2.1.328"


def fixture(name: str) -> str:
    return (FIXTURES / f"{name}.json").read_text()


class FakeTypes:
    """Stands in for the generated ``wit_world.imports.types``."""

    class Decision:
        ALLOW, DENY, ASK, DEFER, BLOCK = "allow", "deny", "ask", "defer", "block"

    @staticmethod
    def Response(*fields):
        return fields


class Corpus(unittest.TestCase):
    def test_shell(self):
        cases = json.loads((HERE / "../testdata/shell.json").read_text())["cases"]
        self.assertGreaterEqual(len(cases), 100)
        for c in cases:
            got = [[x.program, x.args, x.piped, x.redirects] for x in commands(c["line"])]
            self.assertEqual(got, c["commands"], repr(c["line"]))
        rm = commands("rm -rf --no-preserve-root x -- -f")[0]
        self.assertTrue(rm.has_flag("rR", "recursive") and rm.has_flag("f", "force") and not rm.has_flag("v", "verbose"))
        self.assertTrue(commands("rm -Rf x")[0].has_flag("rR", "recursive"))
        self.assertFalse(commands("rm -- -r")[0].has_flag("r", "recursive"))

    def test_paths(self):
        corpus = json.loads((HERE / "../testdata/paths.json").read_text())
        rules = Rules(corpus["rules"])
        self.assertGreaterEqual(len(corpus["cases"]), 50)
        for c in corpus["cases"]:
            rel = relative(c["path"], c["cwd"])
            self.assertEqual(rel, c["relative"], f'{c["path"]} in {c["cwd"]}')
            self.assertEqual(rules.matching(rel), c["rule"], f'{c["path"]} in {c["cwd"]}')
        for p, n, want in corpus["globs"]:
            self.assertEqual(glob(p, n), want, f"{p} {n}")


class Events(unittest.TestCase):
    def test_typed_views(self):
        e = parse_event("PreToolUse", "Bash", fixture("PreToolUse-Bash"))
        self.assertIsInstance(e, PreToolUse)
        self.assertEqual((e.bash_command, e.tool_use_id, e.cwd), ("ls -la && false", "toolu_mock0005", "/home/dev/project"))
        match e:
            case PreToolUse(tool_name="Bash"):
                pass
            case _:
                self.fail("structural match")
        c = parse_event("ConfigChange", None, fixture("ConfigChange-user_settings"))
        self.assertIsInstance(c, ConfigChange)
        self.assertEqual((c.source, c.file_path), ("user_settings", "/home/dev/.claude/settings.json"))
        s = parse_event("Stop", None, fixture("Stop"))
        self.assertEqual((type(s), s.stop_hook_active, s.last_assistant_message), (Stop, False, "done"))
        self.assertEqual(parse_event("UserPromptSubmit", None, fixture("UserPromptSubmit")),
                         UserPromptSubmit(name="UserPromptSubmit", payload=json.loads(fixture("UserPromptSubmit")),
                                          payload_json=fixture("UserPromptSubmit"), prompt="run it"))
        self.assertEqual(parse_event("PostToolUse", "Bash", fixture("PostToolUse-Bash")).tool_response["stdout"], "ok")
        self.assertIsInstance(parse_event("PostToolUse", "Bash", fixture("PostToolUse-Bash")), PostToolUse)
        other = parse_event("Future", None, '{"x": 1}')
        self.assertEqual((type(other), other.payload["x"]), (Event, 1))
        self.assertEqual(parse_event("Stop", None, '{"agent": {"name": "codex", "version": "1"}}').agent, Agent("codex", "1"))
        with self.assertRaises(ValueError):
            parse_event("X", None, "[1]")


class Answers(unittest.TestCase):
    def test_map_to_the_wit_response(self):
        self.assertEqual(_to_response(none(), FakeTypes), (None, None, None, None, None))
        for a, d in [(allow(), "allow"), (deny("r"), "deny"), (ask("r"), "ask"), (defer(), "defer"), (block("r"), "block")]:
            self.assertEqual(_to_response(a, FakeTypes)[0], d)
        self.assertEqual(_to_response(rewrite({"command": "ls"}, "why").with_system_message("m"), FakeTypes),
                         ("allow", "why", None, '{"command": "ls"}', "m"))
        self.assertEqual(_to_response(context("c"), FakeTypes), (None, None, "c", None, None))
        self.assertEqual(_to_response(system_message("s"), FakeTypes), (None, None, None, None, "s"))
        with self.assertRaises(TypeError):
            _to_response("deny", FakeTypes)
        with self.assertRaises(ValueError):
            _to_response(deny("x").with_reason("y").__class__(decision="nope"), FakeTypes)


if __name__ == "__main__":
    unittest.main()
