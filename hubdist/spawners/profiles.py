"""Profiles: the server kinds an administrator offers (image, resources, GPUs, volumes,
environment, placement), who may choose which, and the form that offers them.

Zero to JupyterHub's ``profileList`` is the model, with options inside a profile (e.g. an
image version). What differs on purpose: a choice made through the REST API is checked
exactly like one made in the form (the same function judges both), an unknown or hidden
profile or choice is refused with a 400 naming it, and no free-form value from the user ever
reaches the server: every setting comes from the configuration.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from html import escape as html_escape
from typing import Any

from jupyterhub.traitlets import ByteSpecification
from traitlets import HasTraits, List, TraitError

#: What a profile, or a choice of one of its options, may set for the server it starts.
SETTINGS = (
    "image",
    "mem_limit",
    "cpu_limit",
    "mem_guarantee",
    "cpu_guarantee",
    "gpus",
    "environment",
    "volumes",
    "placement_constraints",
)
PROFILE_KEYS = ("name", "display_name", "description", "default", "groups", "visible",
                "options", *SETTINGS)  # fmt: skip
OPTION_KEYS = ("display_name", "choices")
CHOICE_KEYS = ("display_name", "default", *SETTINGS)
#: Settings merged with the configured value (and an option's into its profile's)
MERGED = ("environment", "volumes")
#: The user_options key that names the profile
PROFILE = "profile"

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_SLUG_RULE = "lowercase letters, digits, '-' and '_', starting with a letter or digit"


class ProfileRefused(ValueError):
    """A user's choice that this user may not make (the spawn is refused with a 400)."""


@dataclass(frozen=True)
class Choice:
    name: str
    display_name: str
    settings: dict[str, Any]


@dataclass(frozen=True)
class Option:
    name: str
    display_name: str
    choices: dict[str, Choice]
    default: str


@dataclass(frozen=True)
class Profile:
    name: str
    display_name: str
    description: str = ""
    default: bool = False
    groups: tuple[str, ...] = ()
    visible: Callable[[Any], bool] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Option] = field(default_factory=dict)

    def may_see(self, spawner: Any) -> bool:
        """Group membership (any of ``groups``) and the ``visible`` callable, when given."""
        if self.groups:
            mine = {group.name for group in spawner.user.groups}
            if not mine & set(self.groups):
                return False
        return self.visible is None or bool(self.visible(spawner))


# -- the configuration --------------------------------------------------------------------


def parse(value: Any) -> list[Profile]:
    """``profiles`` as configured (a list of dicts) as Profiles; ValueError names what is
    wrong, where (``profiles[1] 'gpu'``), and what is allowed."""
    if not isinstance(value, list | tuple):
        raise ValueError(f"profiles must be a list of dicts, got {type(value).__name__}")
    profiles = []
    for index, item in enumerate(value):
        where = f"profiles[{index}]"
        if not isinstance(item, Mapping):
            raise ValueError(f"{where} must be a dict, got {item!r}")
        if isinstance(item.get("name"), str):
            where += f" {item['name']!r}"
        profiles.append(_profile(item, where))
    _unique((p.name for p in profiles), "profile name", "profiles")
    defaults = [p.name for p in profiles if p.default]
    if len(defaults) > 1:
        raise ValueError(f"profiles: only one may be the default, not {', '.join(defaults)}")
    return profiles


def _profile(item: Mapping, where: str) -> Profile:
    _known_keys(item, PROFILE_KEYS, where)
    name = _slug(item.get("name"), f"{where}: name")
    groups = item.get("groups", ())
    if isinstance(groups, str) or not all(isinstance(g, str) for g in groups):
        raise ValueError(f"{where}: groups must be a list of group names, got {groups!r}")
    visible = item.get("visible")
    if visible is not None and not callable(visible):
        raise ValueError(f"{where}: visible must be a callable spawner -> bool")
    options = item.get("options") or {}
    if not isinstance(options, Mapping):
        raise ValueError(f"{where}: options must be a dict {{name: {{choices: ...}}}}")
    return Profile(
        name=name,
        display_name=_text(item.get("display_name", name), f"{where}: display_name"),
        description=_text(item.get("description", ""), f"{where}: description"),
        default=bool(item.get("default", False)),
        groups=tuple(groups),
        visible=visible,
        settings=_settings(item, where),
        options={
            key: _option(key, spec, f"{where}: options[{key!r}]") for key, spec in options.items()
        },
    )


def _option(name: Any, spec: Any, where: str) -> Option:
    name = _slug(name, f"{where}: its name")
    if name == PROFILE:
        raise ValueError(f"{where}: {PROFILE!r} names the profile itself; rename the option")
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where} must be a dict with choices")
    _known_keys(spec, OPTION_KEYS, where)
    raw = spec.get("choices")
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError(f"{where}: choices must be a non-empty dict {{name: {{...}}}}")
    choices = {}
    defaults = []
    for key, choice in raw.items():
        at = f"{where}: choices[{key!r}]"
        key = _slug(key, f"{at}: its name")
        if not isinstance(choice, Mapping):
            raise ValueError(f"{at} must be a dict")
        _known_keys(choice, CHOICE_KEYS, at)
        display = _text(choice.get("display_name", key), f"{at}: display_name")
        choices[key] = Choice(key, display, _settings(choice, at))
        if choice.get("default"):
            defaults.append(key)
    if len(defaults) > 1:
        raise ValueError(f"{where}: only one choice may be the default, not {defaults}")
    display = _text(spec.get("display_name", name), f"{where}: display_name")
    return Option(name, display, choices, defaults[0] if defaults else next(iter(choices)))


def _settings(item: Mapping, where: str) -> dict[str, Any]:
    """The settings of a profile or choice, each checked for its type."""
    settings = {key: item[key] for key in SETTINGS if key in item}
    for key, value in settings.items():
        problem = _setting_problem(key, value)
        if problem:
            raise ValueError(f"{where}: {key} {problem}, got {value!r}")
    return settings


def _setting_problem(key: str, value: Any) -> str:
    if key == "image":
        return "" if isinstance(value, str) and value.strip() else "must be an image name"
    if key in ("mem_limit", "mem_guarantee"):
        try:
            ByteSpecification().validate(HasTraits(), value)
        except TraitError:
            return 'must be bytes or a size like "2G"'
        return ""
    if key in ("cpu_limit", "cpu_guarantee"):
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
        return "" if ok else "must be a positive number of CPUs"
    if key == "gpus":
        ok = value == "all" or (isinstance(value, int) and not isinstance(value, bool))
        return (
            "" if ok and (value == "all" or value > 0) else 'must be a count (1, 2, ...) or "all"'
        )
    if key in MERGED:
        return "" if isinstance(value, Mapping) else "must be a dict"
    if key == "placement_constraints":
        ok = isinstance(value, list | tuple) and all(isinstance(c, str) for c in value)
        return "" if ok else "must be a list of strings"
    return ""


def _known_keys(item: Mapping, known: Iterable[str], where: str) -> None:
    unknown = sorted(map(str, set(item) - set(known)))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: {', '.join(known)}")


def _slug(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _SLUG.match(value):
        raise ValueError(f"{where} must be 1-63 characters of {_SLUG_RULE}; got {value!r}")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a string, got {value!r}")
    return value


def _unique(found: Iterable[str], what: str, where: str) -> None:
    seen: set[str] = set()
    for name in found:
        if name in seen:
            raise ValueError(f"{where}: {what} {name!r} is used twice")
        seen.add(name)


class ProfileList(List):
    """A traitlets list of profile dicts (or a callable returning one), checked when the
    configuration is read, so a mistake stops the hub naming its file and line
    (hubdist.config) and what is wrong in it."""

    info_text = "a list of profile dicts or a callable (docs/profiles.md)"

    def validate(self, obj: Any, value: Any) -> Any:
        if callable(value):
            return value  # asked at each spawn; its answer is checked then
        value = super().validate(obj, value)
        try:
            parse(value)
        except ValueError as exc:
            raise TraitError(str(exc)) from exc
        return value


# -- a user's choice ------------------------------------------------------------------------


def visible(profiles: list[Profile], spawner: Any) -> list[Profile]:
    return [profile for profile in profiles if profile.may_see(spawner)]


def default_profile(shown: list[Profile]) -> Profile:
    if not shown:
        raise ProfileRefused(
            "no profile is available to you; ask an administrator for access to one"
        )
    return next((p for p in shown if p.default), shown[0])


def choose(shown: list[Profile], user_options: Mapping[str, Any]) -> tuple[Profile, dict]:
    """The profile and the settings for ``user_options``, from the profiles this user may
    see (``shown``); :class:`ProfileRefused` names whatever is not one of them."""
    requested = user_options.get(PROFILE)
    by_name = {profile.name: profile for profile in shown}
    if requested is None:
        profile = default_profile(shown)
    elif isinstance(requested, str) and requested in by_name:
        profile = by_name[requested]
    else:
        # a hidden profile is refused like one that does not exist: its name is no secret
        # to the user who sent it, its existence is
        choices = ", ".join(by_name) or "none"
        raise ProfileRefused(
            f"profile {requested!r} is not one you may choose; choose one of: {choices}"
        )
    unknown = sorted(set(user_options) - {PROFILE} - set(profile.options))
    if unknown:
        allowed = ", ".join([PROFILE, *profile.options])
        raise ProfileRefused(
            f"unknown user option(s) {', '.join(map(repr, unknown))} for profile "
            f"{profile.name!r}; it accepts: {allowed}"
        )
    settings = dict(profile.settings)
    for option in profile.options.values():
        picked = user_options.get(option.name, option.default)
        if not isinstance(picked, str) or picked not in option.choices:
            raise ProfileRefused(
                f"{picked!r} is not a choice of {option.name!r} in profile {profile.name!r}; "
                f"choose one of: {', '.join(option.choices)}"
            )
        settings = merge_settings(settings, option.choices[picked].settings)
    return profile, settings


def fingerprint(name: str, settings: Mapping[str, Any]) -> str:
    """``NAME-HASH`` of a profile's settings as chosen: a kept container made for other
    settings (another profile, or this one changed since) is not started again."""
    text = json.dumps(settings, sort_keys=True, default=repr)
    return f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def merge_settings(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``; environment and volumes are merged, not replaced."""
    merged = dict(base)
    for key, value in extra.items():
        if key in MERGED:
            value = {**base.get(key, {}), **value}
        merged[key] = value
    return merged


# -- the spawn form -------------------------------------------------------------------------


def option_field(profile: str, option: str) -> str:
    """Form field of ``option`` in ``profile``: each profile's options are fields of their
    own, so only the chosen profile's are read."""
    return f"profile-option-{profile}--{option}"


def options_form(shown: list[Profile], previous: Mapping[str, Any]) -> str:
    """One radio card per profile, its options as drop-downs inside it; "" when there is
    nothing to choose (one profile without options)."""
    if not shown or (len(shown) == 1 and not shown[0].options):
        return ""
    current = previous.get(PROFILE)  # the last start's options: anything an API call sent
    if not isinstance(current, str) or current not in {p.name for p in shown}:
        current = default_profile(shown).name
    cards = [_card(profile, profile.name == current, previous) for profile in shown]
    return (
        '<fieldset class="hubdist-profiles mb-3">\n'
        '<legend class="form-label fs-5">Server profile</legend>\n'
        + "\n".join(cards)
        + "\n</fieldset>"
    )


def _card(profile: Profile, checked: bool, previous: Mapping[str, Any]) -> str:
    slug = html_escape(profile.name)
    anchor = f"hubdist-profile-{slug}"
    lines = [
        '<div class="card mb-2"><div class="card-body">',
        '<div class="form-check">',
        f'<input class="form-check-input" type="radio" name="{PROFILE}" id="{anchor}" '
        f'value="{slug}"{" checked" if checked else ""}>',
        f'<label class="form-check-label fw-bold" for="{anchor}">'
        f"{html_escape(profile.display_name)}</label>",
    ]
    if profile.description:
        lines.append(f'<div class="form-text">{html_escape(profile.description)}</div>')
    lines.append("</div>")
    for option in profile.options.values():
        field_name = html_escape(option_field(profile.name, option.name))
        picked = previous.get(option.name) if checked else None
        if not isinstance(picked, str) or picked not in option.choices:
            picked = option.default
        lines.append(
            f'<div class="row mt-2 ms-3"><label class="col-sm-3 col-form-label" '
            f'for="{field_name}">{html_escape(option.display_name)}</label>'
            f'<div class="col-sm-6"><select class="form-select" name="{field_name}" '
            f'id="{field_name}">'
        )
        for choice in option.choices.values():
            selected = " selected" if choice.name == picked else ""
            lines.append(
                f'<option value="{html_escape(choice.name)}"{selected}>'
                f"{html_escape(choice.display_name)}</option>"
            )
        lines.append("</select></div></div>")
    lines.append("</div></div>")
    return "\n".join(lines)


def options_from_form(formdata: Mapping[str, list[str]]) -> dict[str, str]:
    """The form's fields as user_options: the profile and that profile's options only
    (they are judged by :func:`choose` like any API request)."""
    chosen = (formdata.get(PROFILE) or [None])[0]
    if chosen is None:
        return {}
    options = {PROFILE: chosen}
    prefix = option_field(chosen, "")
    for key, values in formdata.items():
        if key.startswith(prefix) and values:
            options[key[len(prefix) :]] = values[0]
    return options
