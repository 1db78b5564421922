"""Offline translation of field reports with Argos Translate.

    translator = ArgosTranslator(cache=TranslationCache(engine))
    result = await translator.translate(report, "de", "sw", glossary={"Mietstreik": "Mietstreik"})
    if result.missing_model: ...  # show the original with a note and an install hint

Modules: `text` (sentence and glossary cutting, pure), `argos` (packages on disk and
loaded models), `translator` (the public translator). The cache table lives in
`core.translation_cache`. argostranslate is imported only when a model is first needed.
"""

from core.translation.argos import InstalledModel, install_package, installed_models, list_installed
from core.translation.translator import (
    ArgosTranslator,
    Translation,
    Translator,
    normalise_language,
)

__all__ = [
    "ArgosTranslator",
    "InstalledModel",
    "Translation",
    "Translator",
    "install_package",
    "installed_models",
    "list_installed",
    "normalise_language",
]
