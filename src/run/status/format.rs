//! `NINJA_STATUS`: the status line's format, its placeholders, and the
//! build's progress they show.

use std::fmt::Write as _;
use std::time::Duration;

use thiserror::Error;

/// ninja's default `NINJA_STATUS`.
pub const DEFAULT_STATUS_FORMAT: &str = "[%f/%t] ";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum StatusFormatError {
    /// ninja 1.11 words it "unknown placeholder '%z' in $NINJA_STATUS".
    #[error("unknown placeholder '%{0}' in $NINJA_STATUS")]
    UnknownPlaceholder(char),
}

/// A parsed `NINJA_STATUS` format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusFormat {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Literal(char),
    Started,
    Total,
    Running,
    Unstarted,
    Finished,
    OverallRate,
    CurrentRate,
    PercentFinished,
    PercentTime,
    ElapsedSeconds,
    ElapsedClock,
    EtaSeconds,
    EtaClock,
}

impl StatusFormat {
    /// Parses the placeholders of ninja 1.12: %s %t %r %u %f %o %c %p %P %e
    /// %w %E %W and %%. A lone trailing `%` is kept literally.
    pub fn parse(format: &str) -> Result<Self, StatusFormatError> {
        let mut pieces = Vec::new();
        let mut chars = format.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                pieces.push(Piece::Literal(c));
                continue;
            }
            let piece = match chars.next() {
                None => Piece::Literal('%'),
                Some('%') => Piece::Literal('%'),
                Some('s') => Piece::Started,
                Some('t') => Piece::Total,
                Some('r') => Piece::Running,
                Some('u') => Piece::Unstarted,
                Some('f') => Piece::Finished,
                Some('o') => Piece::OverallRate,
                Some('c') => Piece::CurrentRate,
                Some('p') => Piece::PercentFinished,
                Some('P') => Piece::PercentTime,
                Some('e') => Piece::ElapsedSeconds,
                Some('w') => Piece::ElapsedClock,
                Some('E') => Piece::EtaSeconds,
                Some('W') => Piece::EtaClock,
                Some(other) => return Err(StatusFormatError::UnknownPlaceholder(other)),
            };
            pieces.push(piece);
        }
        Ok(StatusFormat { pieces })
    }

    /// Expands the format for the given counters.
    pub fn render(&self, progress: &Progress) -> String {
        let mut text = String::new();
        for piece in &self.pieces {
            // Writing to a String cannot fail.
            let _ = match piece {
                Piece::Literal(c) => write!(text, "{c}"),
                Piece::Started => write!(text, "{}", progress.started),
                Piece::Total => write!(text, "{}", progress.total),
                Piece::Running => write!(text, "{}", progress.running),
                Piece::Unstarted => {
                    write!(text, "{}", progress.total.saturating_sub(progress.started))
                }
                Piece::Finished => write!(text, "{}", progress.finished),
                Piece::OverallRate => write!(text, "{}", rate_text(progress.overall_rate())),
                Piece::CurrentRate => write!(text, "{}", rate_text(progress.current_rate)),
                Piece::PercentFinished => {
                    let percent = (100 * progress.finished)
                        .checked_div(progress.total)
                        .unwrap_or(0);
                    write!(text, "{percent:3}%")
                }
                Piece::PercentTime => match progress.eta() {
                    Some(eta) => {
                        let whole = progress.elapsed + eta;
                        let percent = if whole.is_zero() {
                            0
                        } else {
                            (100.0 * progress.elapsed.as_secs_f64() / whole.as_secs_f64()) as u64
                        };
                        write!(text, "{percent:3}%")
                    }
                    None => write!(text, "?"),
                },
                Piece::ElapsedSeconds => write!(text, "{:.3}", progress.elapsed.as_secs_f64()),
                Piece::ElapsedClock => write!(text, "{}", clock_text(progress.elapsed)),
                Piece::EtaSeconds => match progress.eta() {
                    Some(eta) => write!(text, "{:.3}", eta.as_secs_f64()),
                    None => write!(text, "?"),
                },
                Piece::EtaClock => match progress.eta() {
                    Some(eta) => write!(text, "{}", clock_text(eta)),
                    None => write!(text, "?"),
                },
            };
        }
        text
    }
}

/// Rates are printed like ninja: one decimal, `?` while unknown.
fn rate_text(rate: Option<f64>) -> String {
    match rate {
        Some(rate) => format!("{rate:.1}"),
        None => "?".to_string(),
    }
}

/// `[h:]mm:ss`.
fn clock_text(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if hours > 0 {
        format!("{hours}:{minutes:02}:{seconds:02}")
    } else {
        format!("{minutes:02}:{seconds:02}")
    }
}

/// The counters a status line is rendered from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    pub started: usize,
    pub finished: usize,
    pub total: usize,
    pub running: usize,
    pub elapsed: Duration,
    /// Finished steps per second over the last few finishes (`%c`).
    pub current_rate: Option<f64>,
}

impl Progress {
    fn overall_rate(&self) -> Option<f64> {
        let seconds = self.elapsed.as_secs_f64();
        (seconds > 0.0).then(|| self.finished as f64 / seconds)
    }

    /// Remaining time, extrapolated from the average time per finished step.
    /// (ninja 1.12 predicts from `.ninja_log` durations instead.)
    fn eta(&self) -> Option<Duration> {
        if self.finished == 0 {
            return None;
        }
        let remaining = self.total.saturating_sub(self.finished) as f64;
        Some(self.elapsed.mul_f64(remaining / self.finished as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress() -> Progress {
        Progress {
            started: 5,
            finished: 3,
            total: 12,
            running: 2,
            elapsed: Duration::from_millis(6000),
            current_rate: None,
        }
    }

    fn render(format: &str) -> String {
        StatusFormat::parse(format)
            .expect("valid format")
            .render(&progress())
    }

    #[test]
    fn counters() {
        assert_eq!(render("[%f/%t] "), "[3/12] ");
        assert_eq!(render("%s %r %u %%"), "5 2 7 %");
        assert_eq!(render("%p"), " 25%");
        assert_eq!(render("trailing %"), "trailing %");
    }

    #[test]
    fn times_and_rates() {
        assert_eq!(render("%e"), "6.000");
        assert_eq!(render("%w"), "00:06");
        assert_eq!(render("%o"), "0.5");
        assert_eq!(render("%c"), "?");
        // 3 steps in 6 s, 9 left: 18 s.
        assert_eq!(render("%E"), "18.000");
        assert_eq!(render("%W"), "00:18");
        assert_eq!(render("%P"), " 25%");
        assert_eq!(clock_text(Duration::from_secs(3 * 3600 + 62)), "3:01:02");
    }

    #[test]
    fn unknown_time_is_a_question_mark() {
        let fresh = Progress::default();
        let format = StatusFormat::parse("%o %E %W %P %p").expect("valid");
        assert_eq!(format.render(&fresh), "? ? ? ?   0%");
    }

    #[test]
    fn unknown_placeholder_is_rejected() {
        assert_eq!(
            StatusFormat::parse("%z"),
            Err(StatusFormatError::UnknownPlaceholder('z'))
        );
    }
}
