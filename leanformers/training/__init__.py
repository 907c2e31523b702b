"""Training: Trainer, TrainingArguments, data collators and callbacks (the reference's API).

Imports torch but no model or tokenizer code: the Trainer works with any nn.Module whose output
carries a loss, and with any tokenizer that has the reference's ``pad``.
"""

from .arguments import Seq2SeqTrainingArguments, TrainingArguments
from .callbacks import (CallbackHandler, DefaultFlowCallback, EarlyStoppingCallback, JsonlLoggerCallback,
                        PrinterCallback, ProgressCallback, TrainerCallback, TrainerControl, TrainerState)
from .collators import (DataCollatorForLanguageModeling, DataCollatorForSeq2Seq,
                        DataCollatorForTokenClassification, DataCollatorWithPadding, DefaultDataCollator,
                        default_data_collator)
from .optimization import get_scheduler
from .trainer import Trainer
from .seq2seq import Seq2SeqTrainer
from .checkpoints import get_last_checkpoint
from .utils import EvalPrediction, PredictionOutput, TrainOutput, set_seed

__all__ = [
    "Trainer", "TrainingArguments", "Seq2SeqTrainer", "Seq2SeqTrainingArguments", "DataCollatorForSeq2Seq",
    "TrainerCallback", "TrainerControl", "TrainerState", "CallbackHandler",
    "DefaultFlowCallback", "EarlyStoppingCallback", "JsonlLoggerCallback", "PrinterCallback", "ProgressCallback",
    "DataCollatorForLanguageModeling", "DataCollatorForTokenClassification", "DataCollatorWithPadding",
    "DefaultDataCollator", "default_data_collator", "get_scheduler", "EvalPrediction", "PredictionOutput",
    "TrainOutput", "get_last_checkpoint", "set_seed",
]
