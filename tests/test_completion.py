"""`embtui completion bash|zsh`: the script a user installs as README says, loaded into a
real shell and asked what `embtui ex<Tab>` and friends complete to."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import embtui

pytestmark = pytest.mark.slow  # starts embtui and shells


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = embtui("completion", "bash")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    path = tmp_path_factory.mktemp("completion") / "embtui"
    path.write_text(result.stdout, encoding="utf-8")
    return path


def bash_completes(script: Path, *words: str) -> list[str]:
    """What bash offers for the last of `words` (the word under the cursor), with the
    script loaded as README says: the function `complete -p embtui` names, called with
    COMP_WORDS and COMP_CWORD set as bash sets them on Tab."""
    line = " ".join(words)
    quoted = " ".join(f"'{w}'" for w in words)
    program = f"""
        source "$1" || exit 3
        spec=$(complete -p embtui) || exit 4
        echo "SPEC $spec"
        func=$(sed -E 's/.* -F ([^ ]+) .*/\\1/' <<< "$spec")
        COMP_WORDS=({quoted})
        COMP_CWORD={len(words) - 1}
        COMP_LINE='{line}'
        COMP_POINT={len(line)}
        "$func" embtui '{words[-1]}' '{words[-2]}'
        printf 'REPLY %s\\n' "${{COMPREPLY[@]}}"
    """
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program, "bash", str(script)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    spec = [line for line in lines if line.startswith("SPEC ")]
    assert spec and spec[0].endswith(" embtui"), lines  # registered for the embtui command
    return sorted(
        line.removeprefix("REPLY ").strip() for line in lines if line.startswith("REPLY ")
    )


def test_bash_completes_a_subcommand_from_its_first_letters(bash_script):
    assert bash_completes(bash_script, "embtui", "ex") == ["export"]
    assert bash_completes(bash_script, "embtui", "re") == ["rename", "resume"]


def test_bash_completes_flags_and_their_choices(bash_script):
    assert bash_completes(bash_script, "embtui", "export", "1", "--form") == ["--format"]
    offered = bash_completes(bash_script, "embtui", "export", "1", "--format", "")
    assert offered == sorted(["md", "html", "csv", "summary-csv", "json", "tensorboard"])
    assert bash_completes(bash_script, "embtui", "list", "--j") == ["--json"]
    assert bash_completes(bash_script, "embtui", "completion", "") == ["bash", "zsh"]


def test_bash_completes_an_experiment_file_from_the_folder(bash_script, tmp_path):
    (tmp_path / "grid.toml").write_text("", encoding="utf-8")
    program = f"""
        cd '{tmp_path}' || exit 5
        source "$1"
        COMP_WORDS=(embtui run gr); COMP_CWORD=2; COMP_LINE='embtui run gr'; COMP_POINT=13
        _shtab_embtui embtui gr run
        printf 'REPLY %s\\n' "${{COMPREPLY[@]}}"
    """
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program, "bash", str(bash_script)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "REPLY grid.toml" in result.stdout.splitlines(), result.stdout + result.stderr


def test_zsh_script_is_valid_zsh_and_defines_the_completion(tmp_path):
    zsh = shutil.which("zsh")
    if zsh is None:
        pytest.skip("zsh is not installed here (apt-get install zsh)")
    result = embtui("completion", "zsh")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("#compdef embtui")
    script = tmp_path / "_embtui"
    script.write_text(result.stdout, encoding="utf-8")
    check = subprocess.run([zsh, "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    # Installed as README says (a folder on $fpath, then compinit): zsh finds it for embtui.
    program = (
        f"fpath=({tmp_path} $fpath); autoload -Uz compinit; compinit -u -d {tmp_path}/.zcd; "
        'print -r -- "${_comps[embtui]}"'
    )
    found = subprocess.run([zsh, "-f", "-c", program], capture_output=True, text=True, timeout=30)
    assert found.stdout.strip() == "_embtui", found.stdout + found.stderr


def test_an_unknown_shell_is_one_line_and_exit_2():
    result = embtui("completion", "fish")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "invalid choice: 'fish'" in result.stderr
