"""Token-based speech generation (codec-language-model TTS, instruction-to-speech): to come."""
