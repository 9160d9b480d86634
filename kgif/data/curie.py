"""CURIEs (compact URIs such as ``DOID:1612``): standard prefixes, and graph labels they name.

Graphs label the same entity differently: KGX graphs (ROBOKOP, RTX-KG2) use CURIEs
(``DRUGBANK:DB00997``), Hetionet uses ``Kind::local`` identifiers (``Compound::DB00997``,
``Disease::DOID:1612``, ``Gene::1017``, ``Anatomy::UBERON:0000002``). :func:`curie_candidates`
turns a CURIE into the labels it may appear as, so that
:meth:`kgif.data.graph.KnowledgeGraph.resolve_entity` finds ``DOID:1612`` and
``drugbank:DB00997`` on Hetionet.

Prefixes are standardised first (:func:`standardize_curie`): with the optional ``curies`` package
(``pip install 'kgif[curies]'``; Hoyt et al., "Unifying the identification of biomedical
entities with the Bioregistry", Sci. Data 2022) through a ``curies.Converter`` built from
:data:`PREFIX_RECORDS` (or one you pass, e.g. the Bioregistry's), which also compresses URIs
(``http://purl.obolibrary.org/obo/DOID_1612`` -> ``DOID:1612``); then, always, through the
built-in case-insensitive synonym table, so CURIEs resolve without the extra. Preferred prefixes
follow the Biolink Model's prefix map (``DRUGBANK``, ``NCBIGene``, ``DOID``, ``UBERON``...).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from functools import cache
from typing import Any

__all__ = ["HETIONET_KINDS", "PREFIX_RECORDS", "curie_candidates", "default_converter",
           "split_curie", "standardize_curie"]

#: Preferred prefix -> (synonyms, URI prefix). Synonyms are matched case-insensitively.
PREFIX_RECORDS: Mapping[str, tuple[tuple[str, ...], str]] = {
    "DRUGBANK": (("drugbank", "DrugBank", "DB"), "http://identifiers.org/drugbank/"),
    "DOID": (("doid",), "http://purl.obolibrary.org/obo/DOID_"),
    "NCBIGene": (("ncbigene", "EntrezGene", "Entrez", "NCBI.Gene", "GeneID"),
                 "http://identifiers.org/ncbigene/"),
    "UBERON": (("uberon",), "http://purl.obolibrary.org/obo/UBERON_"),
    "GO": (("go",), "http://purl.obolibrary.org/obo/GO_"),
    "MESH": (("mesh", "MeSH"), "http://id.nlm.nih.gov/mesh/"),
    "UMLS": (("umls",), "http://linkedlifedata.com/resource/umls/id/"),
    "MONDO": (("mondo",), "http://purl.obolibrary.org/obo/MONDO_"),
    "CHEBI": (("chebi",), "http://purl.obolibrary.org/obo/CHEBI_"),
    "HGNC": (("hgnc",), "http://identifiers.org/hgnc/"),
    "HP": (("hp", "HPO"), "http://purl.obolibrary.org/obo/HP_"),
    "CHEMBL.COMPOUND": (("chembl.compound", "CHEMBL"), "http://identifiers.org/chembl.compound/"),
    "PUBCHEM.COMPOUND": (("pubchem.compound", "PubChem", "CID"),
                         "http://identifiers.org/pubchem.compound/"),
    "UniProtKB": (("uniprot", "UniProt"), "http://purl.uniprot.org/uniprot/"),
    "NCBITaxon": (("ncbitaxon",), "http://purl.obolibrary.org/obo/NCBITaxon_"),
    "REACT": (("reactome",), "http://identifiers.org/reactome/"),
}

#: Preferred prefix -> the Hetionet kinds whose ``Kind::local`` labels hold its ids (Hetionet
#: v1.0, Himmelstein et al., eLife 2017: compounds are DrugBank, diseases Disease Ontology,
#: genes Entrez (NCBI Gene), anatomy Uberon, symptoms MeSH, side effects UMLS, GO terms).
HETIONET_KINDS: Mapping[str, tuple[str, ...]] = {
    "DRUGBANK": ("Compound",),
    "DOID": ("Disease",),
    "NCBIGene": ("Gene",),
    "UBERON": ("Anatomy",),
    "MESH": ("Symptom",),
    "UMLS": ("Side Effect",),
    "GO": ("Biological Process", "Cellular Component", "Molecular Function"),
}

#: Hetionet's separator between kind and local identifier.
KIND_SEPARATOR = "::"


@cache
def _synonyms() -> dict[str, str]:
    """Case-folded prefix or synonym -> preferred prefix."""
    table = {}
    for prefix, (synonyms, _) in PREFIX_RECORDS.items():
        for name in (prefix, *synonyms):
            table[name.casefold()] = prefix
    return table


@cache
def default_converter() -> Any | None:
    """A ``curies.Converter`` of :data:`PREFIX_RECORDS`, or None without the ``curies`` package."""
    if importlib.util.find_spec("curies") is None:
        return None
    import curies

    records = [{"prefix": p, "prefix_synonyms": list(s), "uri_prefix": uri}
               for p, (s, uri) in PREFIX_RECORDS.items()]
    return curies.Converter.from_extended_prefix_map(records)


def split_curie(text: str) -> tuple[str, str] | None:
    """``"DOID:1612"`` -> ``("DOID", "1612")``; None when ``text`` is not ``prefix:local``.

    The prefix is what precedes the first colon; it must be non-empty and hold no whitespace
    or ``/``; the local part must not start with ``:`` (Hetionet's ``Kind::local``) or ``//``
    (a URI).
    """
    prefix, sep, local = text.partition(":")
    if not sep or not prefix or not local or local.startswith((":", "//")):
        return None
    if any(c.isspace() or c == "/" for c in prefix):
        return None
    return prefix, local


def standardize_curie(text: str, converter: Any | None = None) -> str | None:
    """``text`` with its prefix replaced by the preferred one, or None if the prefix is unknown.

    Args:
        text: A CURIE (``"drugbank:DB00997"``) or, with a ``curies`` converter, a URI.
        converter: A ``curies.Converter`` (default: :func:`default_converter`, None without the
            ``curies`` package); tried first. The built-in synonym table follows.

    Returns:
        ``"DRUGBANK:DB00997"``, or None.
    """
    converter = default_converter() if converter is None else converter
    parts = split_curie(text)
    if converter is not None and ("://" in text or parts is not None):
        found = _converted(converter, text)
        if found:
            return found
    if parts is None:
        return None
    prefix = _synonyms().get(parts[0].casefold())
    return None if prefix is None else f"{prefix}:{parts[1]}"


def _converted(converter: Any, text: str) -> str | None:
    """The converter's standard CURIE of ``text`` (a URI is compressed), None if it has none."""
    try:
        return converter.compress(text) if "://" in text else converter.standardize_curie(text)
    except ValueError:  # curies' parse errors (no delimiter, bad URI) are ValueErrors
        return None


def curie_candidates(text: str, converter: Any | None = None) -> list[str]:
    """Labels under which a graph may hold the entity a CURIE names, most literal first.

    ``"doid:1612"`` -> ``["DOID:1612", "Disease::DOID:1612", "Disease::1612"]``;
    ``"DRUGBANK:DB00997"`` -> ``[..., "Compound::DB00997"]``. Kinds come from
    :data:`HETIONET_KINDS`.

    Args:
        text: A CURIE (or a URI with a ``curies`` converter).
        converter: See :func:`standardize_curie`.

    Returns:
        Candidate labels without repeats; empty when ``text`` is no CURIE of a known prefix.
    """
    curie = standardize_curie(text, converter)
    if curie is None:
        return []
    prefix, local = curie.split(":", 1)
    out = [curie]
    for kind in HETIONET_KINDS.get(prefix, ()):
        out += [f"{kind}{KIND_SEPARATOR}{curie}", f"{kind}{KIND_SEPARATOR}{local}"]
    return list(dict.fromkeys(out))
