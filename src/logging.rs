//! The text log line when it goes to a file or a collector (no terminal): the layout of
//! tracing-subscriber's default format (`<instant> <LEVEL> <span>{<fields>}: <target>: <message>
//! <fields>`), written without its colour machinery, which it runs even with colours off.
//! The access log writes one such line per request: tracing-subscriber's own formatting of it
//! cost 18,900 instructions, against 26,500 for the rest of a `/healthz` request (BENCHMARKS.md).

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Writes a span's or an event's fields: `name=value`, the message first and bare.
#[derive(Debug, Default, Clone, Copy)]
pub struct TextFields;

impl<'w> FormatFields<'w> for TextFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = FieldWriter {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct FieldWriter<'w> {
    writer: Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl FieldWriter<'_> {
    /// Writes the separator and `name=` (nothing for the message), then the value with `value`.
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        // Fields `log` adds when events come from the `log` crate say where, not what.
        if name.starts_with("log.") {
            return;
        }
        self.result = (|| {
            if !self.first {
                self.writer.write_char(' ')?;
            }
            self.first = false;
            if name != "message" {
                self.writer
                    .write_str(name.strip_prefix("r#").unwrap_or(name))?;
                self.writer.write_char('=')?;
            }
            value(&mut self.writer)
        })();
    }
}

impl Visit for FieldWriter<'_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        // Quoted and escaped (as `Debug` does), so that a value cannot forge a line or a field;
        // the message is the code's own text.
        if field.name() == "message" {
            self.field(field, |w| w.write_str(value));
        } else {
            self.field(field, |w| write!(w, "{value:?}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, |w| write!(w, "{value:?}"));
    }
}

/// The whole line: instant, level, the spans from the root with their fields, target, fields.
#[derive(Debug, Default, Clone, Copy)]
pub struct TextLine;

impl<S> FormatEvent<S, TextFields> for TextLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, TextFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write_now(&mut writer)?;
        let meta = event.metadata();
        writer.write_str(match *meta.level() {
            Level::TRACE => " TRACE ",
            Level::DEBUG => " DEBUG ",
            Level::INFO => "  INFO ",
            Level::WARN => "  WARN ",
            Level::ERROR => " ERROR ",
        })?;
        if let Some(scope) = ctx.event_scope() {
            let mut seen = false;
            for span in scope.from_root() {
                writer.write_str(span.metadata().name())?;
                seen = true;
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<TextFields>>()
                    && !fields.is_empty()
                {
                    writer.write_char('{')?;
                    writer.write_str(fields)?;
                    writer.write_char('}')?;
                }
                writer.write_char(':')?;
            }
            if seen {
                writer.write_char(' ')?;
            }
        }
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

thread_local! {
    /// The last second written by this thread, and its text (`2026-12-03T17:18:01`): lines
    /// come many to a second, and the calendar arithmetic is done once per second.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Writes the current instant in UTC with microseconds, as tracing-subscriber does
/// (`2026-12-03T17:18:01.209919Z`).
fn write_now(writer: &mut Writer<'_>) -> fmt::Result {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (secs, micros) = (now.as_secs(), now.subsec_micros());
    SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != secs {
            let at = i64::try_from(secs)
                .ok()
                .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            cached.1.clear();
            let _ = write!(
                cached.1,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute(),
                at.second()
            );
            cached.0 = secs;
        }
        writer.write_str(&cached.1)
    })?;
    // Six digits, zero-padded: itoa has no padding, so the leading digit is a 1 that is skipped.
    let mut digits = itoa::Buffer::new();
    let padded = digits.format(1_000_000 + micros);
    writer.write_char('.')?;
    writer.write_str(&padded[1..])?;
    writer.write_char('Z')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The line our formatter writes, and the one tracing-subscriber's default (colours off)
    /// writes, for the same span and event.
    fn both_lines() -> (String, String) {
        let ours = Captured::default();
        let theirs = Captured::default();
        let log = || {
            let span = tracing::info_span!("requete", method = %"GET", path = %"/healthz", request_id = %"abc");
            let _in = span.enter();
            tracing::info!(
                status = 200u64,
                latence_us = 85u64,
                client = "x\"y\nz",
                ok = true,
                delta = -3i64,
                "réponse"
            );
        };
        let w = ours.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(TextFields)
            .event_format(TextLine)
            .with_writer(move || w.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let w = theirs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || w.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let text = |c: Captured| String::from_utf8(c.0.lock().unwrap().clone()).unwrap();
        (text(ours), text(theirs))
    }

    #[test]
    fn the_line_is_tracing_subscriber_s_default_line_without_its_cost() {
        let (ours, theirs) = both_lines();
        // The instants differ by the time between the two; everything after them is the same.
        let after_instant = |l: &str| l.split_once('Z').unwrap().1.to_owned();
        assert_eq!(
            after_instant(&ours),
            after_instant(&theirs),
            "{ours}\n{theirs}"
        );
        assert!(
            ours.ends_with("INFO requete{method=GET path=/healthz request_id=abc}: charte::logging::tests: réponse status=200 latence_us=85 client=\"x\\\"y\\nz\" ok=true delta=-3\n"),
            "{ours}"
        );
        let instant = ours.split_once(' ').unwrap().0;
        assert_eq!(
            instant.len(),
            "2026-12-03T17:18:01.209919Z".len(),
            "{instant}"
        );
        assert!(
            time::OffsetDateTime::parse(instant, &time::format_description::well_known::Rfc3339)
                .is_ok(),
            "{instant}"
        );
    }
}
