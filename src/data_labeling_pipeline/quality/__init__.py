"""Pure quality computations of the ``agree`` stage: agreement, consensus, annotator statistics, routing.

Nothing here reads files or params: functions take columns (the long table ``item_id,
annotator, label``), count matrices or records, and return plain data. An undefined
statistic is a :class:`Score` with ``value=None`` and a ``reason``, never NaN.
"""

from data_labeling_pipeline.quality.annotators import agreement_trend, annotator_stats, spammer_score
from data_labeling_pipeline.quality.bootstrap import bootstrap_interval
from data_labeling_pipeline.quality.boxes import box_agreement, box_consensus, iou_matrix, match_boxes
from data_labeling_pipeline.quality.cohen import cohens_kappa, confusion_table, kappa_from_table
from data_labeling_pipeline.quality.consensus import ConsensusResult, add_model_votes, majority_vote
from data_labeling_pipeline.quality.dawid_skene import DawidSkene
from data_labeling_pipeline.quality.dependence import dependent_items, outlier_dependence
from data_labeling_pipeline.quality.encoding import LongTable, category_counts, encode_long, ratings_to_counts
from data_labeling_pipeline.quality.flags import annotator_flags, route_items, spot_check
from data_labeling_pipeline.quality.kappa_windows import LOW_KAPPA, windowed_kappa
from data_labeling_pipeline.quality.krippendorff import alpha_from_counts, krippendorff_alpha
from data_labeling_pipeline.quality.matching import MatchAgreement
from data_labeling_pipeline.quality.multirater import (
    brennan_prediger,
    conger_kappa,
    counts_from_table,
    fleiss_kappa,
    gwet_ac1,
    item_agreement,
    percent_agreement,
)
from data_labeling_pipeline.quality.pairwise import PairwiseKappa, pairwise_kappa
from data_labeling_pipeline.quality.posterior import (
    error_after_annotation,
    expected_errors,
    stand_in_model,
    typical_confusion,
)
from data_labeling_pipeline.quality.result import Score, jsonable
from data_labeling_pipeline.quality.review import (
    budget_count,
    consensus_reasons,
    estimated_accuracy,
    review_metrics,
    review_summary,
    route,
)
from data_labeling_pipeline.quality.spans import match_spans, span_agreement, span_consensus
from data_labeling_pipeline.quality.spotcheck import spot_check_coverage, spot_check_sample
from data_labeling_pipeline.quality.summary import agreement_summary, summary_to_dict

__all__ = [
    "ConsensusResult",
    "DawidSkene",
    "LOW_KAPPA",
    "LongTable",
    "MatchAgreement",
    "PairwiseKappa",
    "Score",
    "add_model_votes",
    "agreement_summary",
    "agreement_trend",
    "alpha_from_counts",
    "annotator_flags",
    "annotator_stats",
    "bootstrap_interval",
    "box_agreement",
    "box_consensus",
    "brennan_prediger",
    "budget_count",
    "category_counts",
    "cohens_kappa",
    "confusion_table",
    "conger_kappa",
    "consensus_reasons",
    "counts_from_table",
    "dependent_items",
    "encode_long",
    "error_after_annotation",
    "estimated_accuracy",
    "expected_errors",
    "fleiss_kappa",
    "gwet_ac1",
    "iou_matrix",
    "item_agreement",
    "jsonable",
    "kappa_from_table",
    "krippendorff_alpha",
    "majority_vote",
    "match_boxes",
    "match_spans",
    "outlier_dependence",
    "pairwise_kappa",
    "percent_agreement",
    "ratings_to_counts",
    "review_metrics",
    "review_summary",
    "route",
    "route_items",
    "spammer_score",
    "span_agreement",
    "span_consensus",
    "spot_check",
    "spot_check_coverage",
    "spot_check_sample",
    "stand_in_model",
    "summary_to_dict",
    "typical_confusion",
    "windowed_kappa",
]
