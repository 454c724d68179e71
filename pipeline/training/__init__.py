"""Training: what turns versioned data and params into a model file, shared by the stages that build it.

It owns where loans come from and which loan is which (`sources`), a dataset's declared schema (`data_schema`),
the model kinds (`model`), canonical floating-point results (`canonical`), the model file (`model_file`) and the
ROC AUC interval (`auc`). The stages in `pipeline.stages` are thin entry points over these; serving and monitoring
load models and check data through them too.
"""
