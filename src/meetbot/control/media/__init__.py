"""Recordings and transcripts: the control plane's media worker, live transcription, the API's
views of a bot's media.

- :mod:`.pipeline`: bots in ``processing`` → recording → final transcript → ``finished``;
- :mod:`.live`: audio chunks of bots in a call → growing transcript + ``transcript.data``;
- :mod:`.transcribers`: model name → transcriber (cached Whisper models, vendor adapters);
- :mod:`.artifacts`: the stored ``recording.json`` / ``transcript.json`` documents;
- :mod:`.participants`: pure derivations from a bot's observations.
"""
