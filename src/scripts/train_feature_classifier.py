"""Rule train_feature_classifier: the evaluation feature space learnt from the validation part."""
from private_evolution.logs import stage_logging
from private_evolution.stages.train_feature_classifier import train_feature_classifier
from private_evolution.job import stage_job

job = stage_job()

with stage_logging(job.log[0], "train_feature_classifier"):
    train_feature_classifier(job.input[0], job.params.num_classes, job.params.classifier, job.output[0])
