"""Speech to text: local Whisper (faster-whisper), live re-decoding, vendor adapters, formats.

Runs in the control plane's transcription worker, never in a bot's browser process. Heavy
imports (faster-whisper) happen on first use, not on import.
"""
