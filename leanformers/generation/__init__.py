"""Text generation: ``generate()``, its configuration, logits processors, stopping criteria, streamers.

``PreTrainedModel.generate(...)`` calls :func:`generate` here; ``from_pretrained`` of a model that
can generate calls :func:`load_generation_config`.
"""

from .config import GenerationConfig, load_generation_config
from .logits_process import (
    EncoderNoRepeatNGramLogitsProcessor, EncoderRepetitionPenaltyLogitsProcessor, EpsilonLogitsWarper,
    EtaLogitsWarper, ExponentialDecayLengthPenalty, ForcedBOSTokenLogitsProcessor, ForcedEOSTokenLogitsProcessor,
    InfNanRemoveLogitsProcessor, LogitNormalization, LogitsProcessor, LogitsProcessorList, LogitsWarper,
    MinLengthLogitsProcessor, MinNewTokensLengthLogitsProcessor, MinPLogitsWarper, NoBadWordsLogitsProcessor,
    NoRepeatNGramLogitsProcessor, RepetitionPenaltyLogitsProcessor, SequenceBiasLogitsProcessor,
    SuppressTokensAtBeginLogitsProcessor, SuppressTokensLogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper,
    TypicalLogitsWarper,
)
from .stopping import (
    EosTokenCriteria, MaxLengthCriteria, MaxTimeCriteria, StoppingCriteria, StoppingCriteriaList,
    StopStringCriteria,
)
from .streamers import BaseStreamer, TextIteratorStreamer, TextStreamer
from .outputs import (
    GenerateBeamDecoderOnlyOutput, GenerateBeamEncoderDecoderOutput, GenerateDecoderOnlyOutput,
    GenerateEncoderDecoderOutput,
)
from .utils import generate

__all__ = [
    "GenerationConfig", "load_generation_config", "generate", "GenerateDecoderOnlyOutput",
    "GenerateBeamDecoderOnlyOutput", "GenerateEncoderDecoderOutput", "GenerateBeamEncoderDecoderOutput",
    "LogitsProcessor", "LogitsWarper", "LogitsProcessorList",
    "TemperatureLogitsWarper", "TopKLogitsWarper", "TopPLogitsWarper", "MinPLogitsWarper", "TypicalLogitsWarper",
    "RepetitionPenaltyLogitsProcessor", "NoRepeatNGramLogitsProcessor", "NoBadWordsLogitsProcessor",
    "SequenceBiasLogitsProcessor", "MinLengthLogitsProcessor", "MinNewTokensLengthLogitsProcessor",
    "SuppressTokensLogitsProcessor", "InfNanRemoveLogitsProcessor", "LogitNormalization", "StoppingCriteria",
    "StoppingCriteriaList", "MaxLengthCriteria", "MaxTimeCriteria", "EosTokenCriteria", "StopStringCriteria",
    "BaseStreamer", "TextStreamer", "TextIteratorStreamer", "EncoderRepetitionPenaltyLogitsProcessor",
    "EncoderNoRepeatNGramLogitsProcessor", "ForcedBOSTokenLogitsProcessor", "ForcedEOSTokenLogitsProcessor",
    "ExponentialDecayLengthPenalty", "SuppressTokensAtBeginLogitsProcessor", "EpsilonLogitsWarper",
    "EtaLogitsWarper",
]
