"""The Biolink Model category hierarchy, and the most specific of a node's categories.

KGX nodes list several Biolink categories (``biolink:SmallMolecule|biolink:MolecularEntity|
biolink:ChemicalEntity|biolink:NamedThing``), often with mixins such as
``biolink:PhysicalEssence``. kgif uses one of them as the entity's kind (type constraints, tables,
figures): the **most specific** one, chosen by :func:`most_specific_category`:

1. among the listed categories that are classes of :data:`BIOLINK_PARENTS` (the ``is_a``
   hierarchy below ``biolink:NamedThing``), the deepest one;
2. ties (two unrelated classes of equal depth, e.g. ``biolink:Gene`` and ``biolink:Protein``
   listed together) go to the one listed first;
3. when no listed category is a known class (mixins only, or a category from another model),
   the first one listed.

An ancestor is always shallower than its descendants, so the chosen category is never an
ancestor of another listed known class.

:data:`BIOLINK_PARENTS` was generated from the Biolink Model 4.4.4 schema
(``biolink-model.yaml``; Unni et al., "Biolink Model: A universal schema for knowledge graphs in
clinical, biomedical, and translational science", Clin. Transl. Sci. 2022; CC0): every class
below ``NamedThing`` with its ``is_a`` parent, mixins left out (they are not in the ``is_a``
tree). The optional ``bmt`` toolkit is not needed; extend the table (or pass ``parents=``) for
classes of a newer model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["BIOLINK_PARENTS", "BIOLINK_PREFIX", "category_depth", "most_specific_category"]

#: The prefix of Biolink Model CURIEs.
BIOLINK_PREFIX = "biolink:"

#: Biolink class -> its ``is_a`` parent (Biolink Model 4.4.4; names without the prefix).
BIOLINK_PARENTS: Mapping[str, str] = {
    "NamedThing": "Entity",
    "AccessibleDnaRegion": "RegulatoryRegion", "Activity": "NamedThing",
    "AdministrativeEntity": "NamedThing", "Agent": "AdministrativeEntity", "AnatomicalEntity":
    "OrganismalEntity", "Article": "Publication", "Attribute": "NamedThing", "Bacterium":
    "OrganismalEntity", "Behavior": "BiologicalProcess", "BehavioralExposure": "ExposureEvent",
    "BehavioralFeature": "PhenotypicFeature", "BiologicalEntity": "NamedThing",
    "BiologicalProcess": "BiologicalProcessOrActivity", "BiologicalProcessOrActivity":
    "BiologicalEntity", "BiologicalSex": "Attribute", "BioticExposure": "ExposureEvent",
    "Book": "Publication", "BookChapter": "Publication", "Case": "IndividualOrganism", "Cell":
    "AnatomicalEntity", "CellLine": "OrganismalEntity", "CellularComponent":
    "AnatomicalEntity", "CellularOrganism": "OrganismalEntity", "ChemicalEntity": "NamedThing",
    "ChemicalExposure": "ExposureEvent", "ChemicalMixture": "ChemicalEntity", "ChemicalRole":
    "Attribute", "ChiSquaredAnalysisResult": "StudyResult", "ClinicalAttribute": "Attribute",
    "ClinicalCourse": "ClinicalAttribute", "ClinicalEntity": "NamedThing", "ClinicalFinding":
    "PhenotypicFeature", "ClinicalIntervention": "ClinicalEntity", "ClinicalMeasurement":
    "ClinicalAttribute", "ClinicalModifier": "ClinicalAttribute", "ClinicalTrial": "Study",
    "CodingSequence": "BiologicalEntity", "Cohort": "StudyPopulation", "CommonDataElement":
    "InformationContentEntity", "ComplexChemicalExposure": "ExposureEvent",
    "ComplexMolecularMixture": "ChemicalMixture", "ConceptCountAnalysisResult": "StudyResult",
    "ConfidenceLevel": "InformationContentEntity", "Dataset": "InformationContentEntity",
    "DatasetDistribution": "InformationContentEntity", "DatasetSummary":
    "InformationContentEntity", "DatasetVersion": "InformationContentEntity", "Device":
    "NamedThing", "DiagnosticAid": "NamedThing", "Disease": "DiseaseOrPhenotypicFeature",
    "DiseaseOrPhenotypicFeature": "BiologicalEntity", "DiseaseOrPhenotypicFeatureExposure":
    "ExposureEvent", "Drug": "MolecularMixture", "DrugExposure": "ChemicalExposure",
    "DrugLabel": "Publication", "DrugToGeneInteractionExposure": "DrugExposure",
    "EnvironmentalExposure": "ExposureEvent", "EnvironmentalFeature": "PlanetaryEntity",
    "EnvironmentalFoodContaminant": "ChemicalEntity", "EnvironmentalProcess":
    "PlanetaryEntity", "Event": "NamedThing", "Evidence": "InformationContentEntity",
    "EvidenceType": "NamedThing", "Exon": "BiologicalEntity", "ExposureEvent": "NamedThing",
    "Food": "ChemicalMixture", "FoodAdditive": "ChemicalEntity", "Fungus": "CellularOrganism",
    "Gene": "BiologicalEntity", "GeneFamily": "BiologicalEntity", "GeneticInheritance":
    "BiologicalEntity", "Genome": "BiologicalEntity", "GenomicBackgroundExposure":
    "ExposureEvent", "Genotype": "BiologicalEntity", "GenotypicSex": "BiologicalSex",
    "GeographicExposure": "EnvironmentalExposure", "GeographicLocation": "PlanetaryEntity",
    "GeographicLocationAtTime": "GeographicLocation", "GrossAnatomicalStructure":
    "AnatomicalEntity", "Haplotype": "BiologicalEntity", "Hospitalization":
    "ClinicalIntervention", "Human": "Mammal", "IceesStudyResult": "StudyResult",
    "IndividualOrganism": "OrganismalEntity", "InformationContentEntity": "NamedThing",
    "Invertebrate": "CellularOrganism", "JournalArticle": "Article", "LifeStage":
    "OrganismalEntity", "LogOddsAnalysisResult": "StudyResult", "MacromolecularComplex":
    "BiologicalEntity", "Mammal": "CellularOrganism", "MaterialSample": "PhysicalEntity",
    "MicroRNA": "NoncodingRNAProduct", "MolecularActivity": "BiologicalProcessOrActivity",
    "MolecularEntity": "ChemicalEntity", "MolecularMixture": "ChemicalMixture",
    "NoncodingRNAProduct": "RNAProduct", "NucleicAcidEntity": "MolecularEntity",
    "NucleicAcidSequenceMotif": "BiologicalEntity", "NucleosomeModification":
    "BiologicalEntity", "ObservedExpectedFrequencyAnalysisResult": "StudyResult", "Onset":
    "ClinicalCourse", "OrganismAttribute": "Attribute", "OrganismTaxon": "NamedThing",
    "OrganismalEntity": "BiologicalEntity", "Patent": "Publication",
    "PathologicalAnatomicalExposure": "ExposureEvent", "PathologicalAnatomicalStructure":
    "AnatomicalEntity", "PathologicalProcess": "BiologicalProcess",
    "PathologicalProcessExposure": "ExposureEvent", "Pathway": "BiologicalProcess",
    "Phenomenon": "NamedThing", "PhenotypicFeature": "DiseaseOrPhenotypicFeature",
    "PhenotypicQuality": "OrganismAttribute", "PhenotypicSex": "BiologicalSex",
    "PhysicalEntity": "NamedThing", "PhysiologicalProcess": "BiologicalProcess",
    "PlanetaryEntity": "NamedThing", "Plant": "CellularOrganism", "Polypeptide":
    "BiologicalEntity", "PopulationOfIndividualOrganisms": "OrganismalEntity",
    "PosttranslationalModification": "BiologicalEntity", "PreprintPublication": "Publication",
    "Procedure": "NamedThing", "ProcessedMaterial": "ChemicalMixture", "Protein":
    "Polypeptide", "ProteinDomain": "BiologicalEntity", "ProteinFamily": "BiologicalEntity",
    "ProteinIsoform": "Protein", "ProteinLigandAssayResult": "StudyResult", "Publication":
    "InformationContentEntity", "RNAProduct": "Transcript", "RNAProductIsoform": "RNAProduct",
    "ReagentTargetedGene": "BiologicalEntity", "RegulatoryRegion": "BiologicalEntity",
    "RelativeFrequencyAnalysisResult": "StudyResult", "RetrievalSource":
    "InformationContentEntity", "SequenceVariant": "BiologicalEntity", "Serial": "Publication",
    "SeverityValue": "Attribute", "SiRNA": "NoncodingRNAProduct", "SmallMolecule":
    "MolecularEntity", "Snv": "SequenceVariant", "SocioeconomicAttribute": "Attribute",
    "SocioeconomicExposure": "ExposureEvent", "Study": "Activity", "StudyPopulation":
    "PopulationOfIndividualOrganisms", "StudyResult": "NamedThing", "StudyVariable":
    "InformationContentEntity", "TextMiningStudyResult": "StudyResult", "Transcript":
    "BiologicalEntity", "TranscriptionFactorBindingSite": "RegulatoryRegion", "Treatment":
    "ExposureEvent", "Vertebrate": "CellularOrganism", "Virus": "OrganismalEntity", "WebPage":
    "Publication", "Zygosity": "Attribute",
}


def _local(category: str) -> str:
    return category.removeprefix(BIOLINK_PREFIX)


def category_depth(category: str, parents: Mapping[str, str] = BIOLINK_PARENTS) -> int:
    """Depth of a Biolink class below ``Entity`` (``biolink:NamedThing``: 1), ``-1`` if unknown.

    Args:
        category: ``"biolink:SmallMolecule"`` or ``"SmallMolecule"``.
        parents: class -> ``is_a`` parent table.

    Raises:
        ValueError: The table has a cycle through ``category``.
    """
    name = _local(category)
    if name not in parents:
        return -1
    seen = [name]
    while name in parents:
        name = parents[name]
        if name in seen:
            raise ValueError(f"category_depth: the parents table has a cycle through {name!r}")
        seen.append(name)
    return len(seen) - 1


def most_specific_category(categories: Sequence[str],
                           parents: Mapping[str, str] = BIOLINK_PARENTS) -> str:
    """The most specific of a node's Biolink categories (rules in the module docstring).

    Args:
        categories: The node's categories, in the order listed (``"biolink:Drug"`` or
            ``"Drug"``); at least one.
        parents: class -> ``is_a`` parent table (default: Biolink Model 4.4.4).

    Returns:
        One element of ``categories``, unchanged.

    Raises:
        ValueError: ``categories`` is empty.
    """
    if not categories:
        raise ValueError("most_specific_category: no category given")
    depths = [category_depth(c, parents) for c in categories]
    best = max(depths)
    return categories[depths.index(best)]
