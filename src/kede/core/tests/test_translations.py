"""Every English source string has a Simplified Chinese translation, and the site uses it.

The committed catalogue is src/kede/locale/zh_Hans/LC_MESSAGES/django.po (compiled beside it
as django.mo). These tests prove that the catalogue is complete, consistent with the current
source, compiled, and actually served: Chinese by default, English after switching.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest

import kede

PACKAGE_DIR = Path(kede.__file__).resolve().parent
MESSAGES_DIR = PACKAGE_DIR / "locale" / "zh_Hans" / "LC_MESSAGES"
PO_PATH = MESSAGES_DIR / "django.po"
MO_PATH = MESSAGES_DIR / "django.mo"
GETTEXT_TOOLS = ("xgettext", "msguniq", "msgmerge", "msgattrib", "msgfmt")

# A Python %-format directive: %(name)s, %(size).1f, %s, %r … but not a literal "%%".
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[diouxXeEfFgGcrsa]")


def load_po() -> polib.POFile:
    return polib.pofile(str(PO_PATH))


def key(entry: polib.POEntry) -> tuple[str, str, str]:
    """What identifies a message: its context, its English text and its plural text."""
    return (entry.msgctxt or "", entry.msgid, entry.msgid_plural or "")


def translations(entries) -> dict[tuple[str, str, str], tuple[str, ...]]:
    """Each message's translation: its msgstr, or its plural forms in order."""
    result = {}
    for entry in entries:
        if entry.msgid_plural:
            forms = tuple(entry.msgstr_plural[i] for i in sorted(entry.msgstr_plural))
        else:
            forms = (entry.msgstr,)
        result[key(entry)] = forms
    return result


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text.replace("%%", "")))


def test_po_header_declares_simplified_chinese_with_one_plural_form():
    # given the committed catalogue
    po = load_po()

    # when its header is read
    metadata = po.metadata

    # then it is a UTF-8 zh_Hans catalogue with Chinese's single plural form, and not fuzzy
    assert metadata["Language"] == "zh_Hans"
    assert "charset=UTF-8" in metadata["Content-Type"]
    assert metadata["Plural-Forms"].replace(" ", "") == "nplurals=1;plural=0;"
    assert not po.metadata_is_fuzzy


def test_every_entry_is_translated_not_fuzzy_and_keeps_its_placeholders():
    # given the committed catalogue
    po = load_po()
    assert len(po) > 0, f"{PO_PATH} has no entries"

    # when each entry is examined
    problems = []
    for entry in po:
        forms = translations([entry])[key(entry)]
        if entry.obsolete:
            problems.append(f"obsolete (run makemessages --no-obsolete): {entry.msgid!r}")
        if "fuzzy" in entry.flags:
            problems.append(f"fuzzy: {entry.msgid!r}")
        if entry.msgid_plural and len(forms) != 1:
            problems.append(f"{len(forms)} plural forms, Chinese has 1: {entry.msgid!r}")
        if not all(form.strip() for form in forms):
            problems.append(f"untranslated: {entry.msgid!r}")
        if "python-format" in entry.flags:
            expected = placeholders(entry.msgid) | placeholders(entry.msgid_plural or "")
            problems.extend(
                f"placeholders differ: {entry.msgid!r} has {sorted(expected)}, "
                f"{form!r} has {sorted(placeholders(form))}"
                for form in forms
                if placeholders(form) != expected
            )

    # then every entry has a non-empty translation in every plural form, none is fuzzy
    # or obsolete, and each translation uses exactly the placeholders of its source
    assert not problems, f"{PO_PATH}:\n" + "\n".join(problems)


def test_po_has_exactly_the_messages_the_current_source_contains(tmp_path):
    # given a copy of the source tree with an empty locale folder, importable as `kede`
    missing_tools = [tool for tool in GETTEXT_TOOLS if shutil.which(tool) is None]
    if missing_tools:
        pytest.skip(
            f"GNU gettext is not installed (missing {', '.join(missing_tools)}); "
            "install it with `apt-get install gettext` to check the catalogue against the source"
        )
    copy = tmp_path / "src" / "kede"
    shutil.copytree(
        PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "locale")
    )
    (copy / "locale").mkdir()
    instance = tmp_path / "instance"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "kede.settings",
        "KEDE_INSTANCE_DIR": str(instance),
        "PYTHONPATH": os.pathsep.join(
            [str(copy.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }

    # when Django's makemessages (django-admin, run as `python -m django`) extracts its strings
    result = subprocess.run(
        [sys.executable, "-m", "django", "makemessages", "-l", "zh_Hans", "--no-obsolete"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"makemessages failed:\n{result.stdout}\n{result.stderr}"
    extracted_po = copy / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
    assert extracted_po.exists(), f"makemessages wrote no catalogue:\n{result.stdout}"
    extracted = {key(entry) for entry in polib.pofile(str(extracted_po))}
    committed = {key(entry) for entry in load_po()}

    # then the committed catalogue holds every string in the source, and nothing else
    missing = sorted(extracted - committed)
    stale = sorted(committed - extracted)
    assert not missing and not stale, (
        "src/kede/locale/zh_Hans/LC_MESSAGES/django.po is out of date; run "
        "`kede makemessages -l zh_Hans --no-obsolete` in src/kede, translate, then "
        "`kede compilemessages`.\n"
        + "".join(f"missing from the .po: {msgid!r}\n" for _, msgid, _ in missing)
        + "".join(f"no longer in the source: {msgid!r}\n" for _, msgid, _ in stale)
    )


def test_compiled_mo_matches_the_po():
    # given the committed catalogue and its compiled form
    assert MO_PATH.exists(), f"{MO_PATH} is missing; run `kede compilemessages`"
    po = load_po()
    mo = polib.mofile(str(MO_PATH))

    # when both are read as message -> translation
    from_po = translations(entry for entry in po if not entry.obsolete)
    from_mo = translations(entry for entry in mo if entry.msgid)

    # then the .mo holds exactly the .po's translations
    differing = sorted(
        msgid
        for msgid in from_po.keys() | from_mo.keys()
        if from_po.get(msgid) != from_mo.get(msgid)
    )
    assert not differing, (
        "django.mo is stale; run `kede compilemessages`. Differing messages:\n"
        + "\n".join(repr(msgid) for _, msgid, _ in differing)
    )


@pytest.mark.django_db
def test_home_page_is_chinese_by_default_and_english_after_switching(client):
    # given the home page's headline and its translation in the committed catalogue
    english = "One search, every library in the consortium"
    chinese = load_po().find(english).msgstr
    assert chinese

    # when a visitor with no language preference opens the home page
    response = client.get("/")

    # then it is in Chinese
    assert response.status_code == 200
    page = response.content.decode()
    assert chinese in page
    assert english not in page

    # when the visitor switches to English
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"}, follow=True)

    # then the same page is in English
    assert response.status_code == 200
    page = response.content.decode()
    assert english in page
    assert chinese not in page
