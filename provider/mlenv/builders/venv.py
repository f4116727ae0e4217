"""What makes the image's venv one a user can build on: `pip` (locked like any wheel, the version
`python.pip` asks for) and `bin/activate`, so `FROM` the image then `pip install x` works."""

from __future__ import annotations

from dataclasses import replace

from packaging.requirements import Requirement

from mlenv.definition.model import ENV_PREFIX, EnvironmentSpec
from mlenv.definition.requirements import PipSpec


def venv_requirements(spec: EnvironmentSpec) -> PipSpec:
    """The definition's pip packages, and pip itself unless `python.pip: false`: the newest from
    the index, or the pinned version. The user's own `pip` requirement, if any, narrows it further."""
    setting = spec.python.pip
    if setting is False:
        return spec.pip
    pip = Requirement("pip" + (setting if isinstance(setting, str) else ""))
    return replace(spec.pip, requirements=(*spec.pip.requirements, pip))


ACTIVATE = """\
# Source this file from sh or bash: `. {prefix}/bin/activate`. `deactivate` undoes it.
deactivate () {{
    if [ -n "${{_OLD_VIRTUAL_PATH+set}}" ]; then PATH="$_OLD_VIRTUAL_PATH"; export PATH; unset _OLD_VIRTUAL_PATH; fi
    if [ -n "${{_OLD_VIRTUAL_PYTHONHOME+set}}" ]; then PYTHONHOME="$_OLD_VIRTUAL_PYTHONHOME"; export PYTHONHOME; unset _OLD_VIRTUAL_PYTHONHOME; fi
    if [ -n "${{_OLD_VIRTUAL_PS1+set}}" ]; then PS1="$_OLD_VIRTUAL_PS1"; export PS1; unset _OLD_VIRTUAL_PS1; fi
    unset VIRTUAL_ENV VIRTUAL_ENV_PROMPT
    hash -r 2>/dev/null
    [ "$1" = nondestructive ] || unset -f deactivate
}}
deactivate nondestructive
VIRTUAL_ENV={prefix}
VIRTUAL_ENV_PROMPT=env
export VIRTUAL_ENV VIRTUAL_ENV_PROMPT
_OLD_VIRTUAL_PATH="$PATH"
PATH="$VIRTUAL_ENV/bin:$PATH"
export PATH
if [ -n "${{PYTHONHOME+set}}" ]; then _OLD_VIRTUAL_PYTHONHOME="$PYTHONHOME"; unset PYTHONHOME; fi
if [ -n "${{PS1+set}}" ]; then _OLD_VIRTUAL_PS1="$PS1"; PS1="(env) $PS1"; export PS1; fi
hash -r 2>/dev/null
"""

ACTIVATE_FISH = """\
# Source this file from fish: `source {prefix}/bin/activate.fish`.
set -gx VIRTUAL_ENV {prefix}
set -gx VIRTUAL_ENV_PROMPT env
set -gx PATH $VIRTUAL_ENV/bin $PATH
set -e PYTHONHOME
"""

ACTIVATE_CSH = """\
# Source this file from csh: `source {prefix}/bin/activate.csh`.
setenv VIRTUAL_ENV {prefix}
setenv VIRTUAL_ENV_PROMPT env
setenv PATH "$VIRTUAL_ENV/bin:$PATH"
unsetenv PYTHONHOME
"""


def activate_scripts(prefix: str = ENV_PREFIX) -> dict[str, str]:
    """bin/activate (sh, bash), activate.fish and activate.csh for a venv living at `prefix`, by name."""
    return {name: text.format(prefix=prefix) for name, text in
            (("activate", ACTIVATE), ("activate.fish", ACTIVATE_FISH), ("activate.csh", ACTIVATE_CSH))}
