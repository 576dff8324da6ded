"""Reads an iCalendar feed on stdin with the `icalendar` package (an implementation independent
of the service's) and prints what a calendar application would take from it, as JSON: the
calendar's name and each event's UID, summary, start (UTC, ISO 8601), URL and alarm triggers
(seconds relative to the start). Exits non-zero if the text is not valid iCalendar."""

import json
import sys
from datetime import timezone

import icalendar

calendar = icalendar.Calendar.from_ical(sys.stdin.buffer.read())
if calendar.name != "VCALENDAR" or str(calendar.get("VERSION")) != "2.0":
    sys.exit("pas un VCALENDAR 2.0")
if not calendar.get("PRODID"):
    sys.exit("PRODID manquant")
events = []
for event in calendar.walk("VEVENT"):
    for required in ("UID", "DTSTAMP", "DTSTART"):
        if event.get(required) is None:
            sys.exit(f"{required} manquant dans un VEVENT")
    start = event.decoded("DTSTART")
    if start.tzinfo is None:
        sys.exit("DTSTART sans fuseau")
    alarms = []
    for alarm in event.walk("VALARM"):
        if str(alarm.get("ACTION")) != "DISPLAY" or alarm.get("DESCRIPTION") is None:
            sys.exit("VALARM sans ACTION:DISPLAY ni DESCRIPTION")
        alarms.append(int(alarm.decoded("TRIGGER").total_seconds()))
    events.append(
        {
            "uid": str(event["UID"]),
            "summary": str(event["SUMMARY"]),
            "description": str(event.get("DESCRIPTION", "")),
            "start": start.astimezone(timezone.utc).isoformat(),
            "url": str(event.get("URL", "")),
            "alarms": alarms,
        }
    )
print(
    json.dumps(
        {"name": str(calendar.get("X-WR-CALNAME", "")), "events": events},
        ensure_ascii=False,
    )
)
