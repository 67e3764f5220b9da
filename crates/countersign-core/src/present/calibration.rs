//! `countersign risk calibrate`: how each factor relates to later fixes, and the proposal.

use std::fmt::Write;

use crate::calibrate::Calibrated;

pub fn calibration(calibrated: &Calibrated) -> String {
    let (calibration, replay) = (&calibrated.calibration, calibrated);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "calibrated on {} changes of {} ({} to {}): {} later needed a fix ({:.1}%)\n",
        calibration.changes,
        replay.range,
        replay.first.as_deref().unwrap_or("-"),
        replay.last.as_deref().unwrap_or("-"),
        calibration.later_fixed,
        super::percent(calibration.later_fixed, calibration.changes),
    );
    let _ =
        writeln!(out, "how each factor relates to later fixes (lift: later-fix rate of the flagged over all changes')");
    for report in &calibration.factors {
        // The cut nearest to flagging a tenth of the changes.
        let tenth = report.cuts.iter().min_by(|a, b| {
            let distance = |flagged: u64| (super::percent(flagged, calibration.changes) - 10.0).abs();
            distance(a.flagged).total_cmp(&distance(b.flagged))
        });
        let detail = tenth.map_or("never varies on this history".to_owned(), |cut| {
            format!(
                "{}: {} changes ({:.1}%), {} later fixed, lift {:.2}",
                cut.reads,
                cut.flagged,
                super::percent(cut.flagged, calibration.changes),
                cut.flagged_fixed,
                cut.lift
            )
        });
        let _ = writeln!(out, "  {:<13} {:<6}  {detail}", serde_plain(&report.factor), report.relation);
    }
    let proposals = [
        (
            "critical",
            calibration.critical_share,
            &calibration.chosen_critical,
            calibration.critical,
            calibration.critical_fixed,
        ),
        ("high or critical", calibration.high_share, &calibration.chosen, calibration.high, calibration.high_fixed),
    ];
    for (level, share, chosen, covered, fixed) in proposals {
        let _ = writeln!(out, "\nproposal: {level} for at most {:.0}% of changes, chosen in this order", share * 100.0);
        if chosen.is_empty() {
            let _ = writeln!(out, "  no threshold adds changes later fixed at least 1.2 times as often as all changes");
        }
        for (number, cut) in chosen.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {}. {}: {} more changes, {} of them later fixed (lift {:.2})",
                number + 1,
                cut.reads,
                cut.flagged,
                cut.flagged_fixed,
                cut.lift
            );
        }
        let _ = writeln!(
            out,
            "  {level} (destructive changes always): {covered} of {} changes ({:.1}%), holding {fixed} of {} later-fixed ({:.1}%)",
            calibration.changes,
            super::percent(covered, calibration.changes),
            calibration.later_fixed,
            super::percent(fixed, calibration.later_fixed),
        );
    }
    out.push('\n');
    out.push_str(&calibration.risk_toml);
    out
}

/// A factor's name as it serialises.
fn serde_plain(factor: &crate::calibrate::Factor) -> String {
    serde_json::to_value(factor).ok().and_then(|value| value.as_str().map(str::to_owned)).unwrap_or_default()
}
