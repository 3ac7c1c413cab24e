"""Calendars: connected calendars whose meetings get bots (issue 15, docs/calendars.md).

``models`` (the values), ``source`` (the :class:`CalendarSource` Protocol every provider
implements), ``ics`` (subscription feeds, conditional GET), ``occurrences`` (iCalendar text →
occurrences within the horizon), ``rules`` (the record rules, pure), ``meeting_key`` (one key
per meeting across a workspace's calendars), ``worker`` (the poll loop). The use cases are in
:mod:`meetbot.control.service.calendars`.
"""
