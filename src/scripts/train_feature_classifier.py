"""Rule train_feature_classifier: the evaluation feature space learnt from the validation part."""
from private_evolution.logs import stage_logging
from private_evolution.stages.train_feature_classifier import train_feature_classifier

with stage_logging(snakemake.log[0], "train_feature_classifier"):
    train_feature_classifier(snakemake.input[0], snakemake.params.num_classes, snakemake.params.classifier, snakemake.output[0])
