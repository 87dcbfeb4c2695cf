import { html, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import { formatDuration } from "../../common/duration.js";
import { CA_NAMES, type CaName } from "../../common/names.js";
import { PROFILE_NAMES, PROFILES, type ProfileName } from "../../common/profiles.js";
import { CERT_STATES, fleetRows, type CertState, type FleetEntry } from "./fleet.js";
import type { Snapshot } from "./monitor.js";
import { fleetProblems, type NextStepOptions } from "./problems.js";

/**
 * The fleet page: server-rendered HTML, every value escaped by hono's html``
 * template, no script. It reloads itself with <meta http-equiv="refresh">,
 * so it works the same with JavaScript off.
 */

/** The words of /api/fleet and `hak-pki status`, so page, JSON and docs say the same. */
const STATE_TEXT: Record<CertState, string> = {
  anomaly: "anomaly",
  expired: "expired",
  late: "late",
  missing: "missing",
  soon: "soon",
  ok: "ok",
};

const STATE_HELP: Record<CertState, string> = {
  anomaly: "Vault holds a live certificate no hak role should sign (too long, wrong names or usages): revoke it",
  expired: "past notAfter: whatever uses it is failing",
  late: "in its last sixth of life and not renewed",
  missing: "never signed: host not enrolled or agent never ran",
  soon: "past its renewal point (2/3 of its life): the agent is renewing it now",
  ok: "valid, renewal not due yet",
};

/** "19d 4h", "3h 12m", "45s": the two largest units. */
export function shortDuration(seconds: number): string {
  const rounded = Math.abs(seconds) >= 3600 ? Math.round(seconds / 60) * 60 : Math.round(seconds);
  return (formatDuration(Math.abs(rounded)).match(/\d+[dhms]/g) ?? ["0s"]).slice(0, 2).join(" ");
}

function timeText(e: FleetEntry): string {
  if (e.state === "missing" || e.secondsLeft === undefined) return "never issued";
  if (e.secondsLeft <= 0) return `${shortDuration(-e.secondsLeft)} ago`;
  return `${shortDuration(e.secondsLeft)} left`;
}

/** A pool of holders whose certificates do not name them: "2 valid for 3 holders". */
export function poolText(e: Pick<FleetEntry, "current" | "needed">): string {
  const holders = `${e.needed} holder${e.needed === 1 ? "" : "s"}`;
  if (!e.current) return `none valid for ${holders}`;
  return `${e.current} valid for ${holders}`;
}

function cell(e: FleetEntry | undefined): HtmlEscapedString | Promise<HtmlEscapedString> {
  if (!e) return html`<td class="na" aria-label="not held">·</td>`;
  const title =
    e.state === "missing"
      ? `${e.profile}: no certificate signed`
      : `${e.profile} serial ${e.serial}\nissued ${e.issuedAt}\nrenew at ${e.renewAt}\nexpires ${e.expiresAt}` +
        (e.needed !== undefined ? `\n${poolText(e)}; Vault cannot tell which holder has which` : "") +
        (e.anomalies ? `\nanomaly: ${e.anomalies.join("\n")}` : "");
  return html`<td class="cell s-${e.state}" data-state="${e.state}" data-profile="${e.profile}" title="${title}">
    <span class="st">${STATE_TEXT[e.state]}</span><span class="left">${timeText(e)}</span>${e.needed !== undefined
      ? html`<span class="pool">${poolText(e)}</span>`
      : ""}
  </td>`;
}

const CSS = `
:root { color-scheme: light; --ok:#1f7a3a; --ok-bg:#e3f4e8; --soon:#7a5d00; --soon-bg:#fff4c2; --late:#9a3d00; --late-bg:#ffd9b8;
  --expired:#fff; --expired-bg:#c62828; --missing:#fff; --missing-bg:#5b4a8a; --line:#d9dde3; --muted:#5f6b7a; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d2530; background: #f6f7f9; }
header { padding: 16px 24px; background: #1d2530; color: #fff; display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: baseline; }
header h1 { font-size: 18px; margin: 0; font-weight: 600; }
header .meta { color: #b8c2cf; font-size: 13px; }
main { padding: 16px 24px 32px; }
.summary { display: flex; flex-wrap: wrap; gap: 8px; margin: 0 0 14px; padding: 0; list-style: none; }
.summary li { padding: 6px 12px; border-radius: 6px; font-weight: 600; border: 1px solid rgba(0,0,0,.08); }
.summary li.zero { opacity: .45; font-weight: 400; }
.banner { padding: 10px 14px; border-radius: 6px; margin: 0 0 14px; background: #fdecea; border: 1px solid #f5c2bd; color: #7d1f17; }
.wrap { overflow-x: auto; background: #fff; border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 5px; text-align: left; vertical-align: top; }
thead th { background: #eef1f5; font-size: 12px; font-weight: 600; color: #334; vertical-align: bottom; }
thead tr.ca th { font-size: 11px; font-weight: 400; color: var(--muted); text-transform: uppercase; letter-spacing: .05em; border-left: 2px solid #fff; }
tbody th { white-space: nowrap; font-weight: 600; }
tbody th .role { display: block; font-weight: 400; color: var(--muted); font-size: 12px; }
td.cell { min-width: 56px; border-left: 3px solid transparent; }
td.cell .st { display: block; font-weight: 600; text-transform: uppercase; font-size: 11px; letter-spacing: .04em; }
td.cell .left, td.cell .pool { display: block; font-size: 12px; font-variant-numeric: tabular-nums; }
td.na { color: #c0c6cf; text-align: center; }
.s-ok { background: var(--ok-bg); color: var(--ok); }
.s-soon { background: var(--soon-bg); color: var(--soon); }
.s-late { background: var(--late-bg); color: var(--late); }
.s-expired { background: var(--expired-bg); color: var(--expired); }
.s-missing { background: var(--missing-bg); color: var(--missing); }
td.cell.s-ok { border-left-color: #7cc592; } td.cell.s-soon { border-left-color: #e0b800; }
.s-anomaly { background: #000; color: #fff; } td.cell.s-anomaly { border-left-color: #000; }
td.cell.s-late { border-left-color: #e06d00; } td.cell.s-expired { border-left-color: #7f1010; } td.cell.s-missing { border-left-color: #2f2450; }
section { margin-top: 20px; }
section.problems { margin: 0 0 16px; }
.problems ol { margin: 0; padding: 0; list-style: none; background: #fff; border: 1px solid var(--line); border-radius: 8px; }
.problems li.problem { padding: 6px 10px; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
.problems li.problem:last-child { border-bottom: 0; }
.problems .st { display: inline-block; min-width: 64px; text-align: center; padding: 0 6px; border-radius: 4px; font-size: 11px; text-transform: uppercase; letter-spacing: .04em; }
.problems .who { font-weight: 600; }
.problems .holders, .problems .cause { color: var(--muted); }
.problems .pc i { font-style: normal; color: var(--muted); font-size: 12px; }
.problems .next { display: block; font-size: 12px; margin-top: 2px; }
.problems code { background: #eef1f5; padding: 0 4px; border-radius: 3px; }
h2 { font-size: 15px; margin: 0 0 8px; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; font-size: 12px; color: var(--muted); margin-top: 10px; }
.legend b { display: inline-block; padding: 1px 6px; border-radius: 4px; margin-right: 4px; font-size: 11px; text-transform: uppercase; }
.drift li { margin: 4px 0; } .drift code { font-size: 12px; }
.drift ul.changes { margin: 2px 0 8px; padding-left: 18px; color: #3a4656; } .drift ul.changes li { margin: 1px 0; list-style: square; }
.ok-note { color: var(--ok); }
footer { color: var(--muted); font-size: 12px; margin-top: 20px; }
a { color: #1a5fb4; }
`;

/** One line per problem (identity and state), worst first, each with what to run next; wraps, never scrolls sideways. */
function problemsSection(s: Snapshot, o: NextStepOptions) {
  const problems = fleetProblems(s.fleet, o);
  if (problems.length === 0)
    return html`<section class="problems" data-problems="0"><p class="ok-note">No problems: nothing expired, late or missing${s.counts.soon > 0 ? html` (${s.counts.soon} soon: past the renewal point, being renewed)` : ""}.</p></section>`;
  return html`<section class="problems" data-problems="${problems.length}" aria-label="problems, worst first">
    <h2>${problems.length} problem${problems.length === 1 ? "" : "s"}, worst first</h2>
    <ol>
      ${problems.map(
        (p) => html`<li class="problem" data-state="${p.state}" data-identity="${p.identity}">
        <b class="st s-${p.state}">${STATE_TEXT[p.state]}</b>
        <span class="who">${p.identity}</span>${p.hosts.length > 1 || p.hosts[0] !== p.identity ? html` <span class="holders">(${p.hosts.join(", ")})</span>` : ""}:
        ${p.entries.map((e, i) => html`${i > 0 ? ", " : ""}<span class="pc" data-cell="${e.id}" data-state="${e.state}">${e.profile} <i>${timeText(e)}</i>${e.needed !== undefined ? html` <i>(${poolText(e)})</i>` : ""}</span>`)}
        <span class="cause">— ${p.cause}.</span>
        <span class="next">Next: ${p.next.map((c, i) => html`${i > 0 ? " · " : ""}<code>${c}</code>`)}</span>
      </li>`,
      )}
    </ol>
  </section>`;
}

function summary(s: Snapshot) {
  return html`<ul class="summary" aria-label="certificates by state">
    ${CERT_STATES.map(
      (st) => html`<li class="s-${st}${s.counts[st] === 0 ? " zero" : ""}" data-count="${st}">${s.counts[st]} ${STATE_TEXT[st]}</li>`,
    )}
  </ul>`;
}

function driftSection(s: Snapshot) {
  if (s.driftError) return html`<section class="drift"><h2>Drift</h2><p class="banner">Could not compare Vault with the desired state: ${s.driftError}</p></section>`;
  if (!s.drift) return html`<section class="drift"><h2>Drift</h2><p>Not checked yet.</p></section>`;
  if (s.drift.items.length === 0)
    return html`<section class="drift" data-drift="0"><h2>Drift</h2><p class="ok-note">Vault matches the desired state (${s.drift.compared} objects compared at ${when(s.drift.checkedAt)}).</p></section>`;
  return html`<section class="drift" data-drift="${s.drift.items.length}">
    <h2>Drift: ${s.drift.items.length} object(s) differ from the desired state</h2>
    <p>Checked ${when(s.drift.checkedAt)}. Vault's value -&gt; desired value; <code>hak-pki bootstrap</code> would make these changes, serve changes nothing.</p>
    <ul>
      ${s.drift.items.map(
        (d) =>
          html`<li data-drift-id="${d.id}"><b>${d.action}</b> <code>${d.id}</code>${d.changes.length > 0
            ? html`<ul class="changes">${d.changes.map((c) => html`<li><code>${c}</code></li>`)}</ul>`
            : ""}</li>`,
      )}
    </ul>
  </section>`;
}

const CA_LABEL: Record<CaName, string> = { etcd: "etcd CA", kubernetes: "kubernetes CA", "front-proxy": "front-proxy CA", identity: "hak identity CA" };

/** Profile columns present in the fleet, grouped by the CA that signs them. */
function columnGroups(fleet: readonly FleetEntry[]): { ca: CaName; profiles: ProfileName[] }[] {
  const used = new Set(fleet.map((e) => e.profile));
  return CA_NAMES.map((ca) => ({ ca, profiles: PROFILE_NAMES.filter((p) => used.has(p) && PROFILES[p].ca === ca) })).filter((g) => g.profiles.length > 0);
}

/** Lets a long profile name wrap after its hyphens instead of widening the table. */
function wrapHyphens(name: string) {
  return raw(name.split("-").map((part) => html`${part}`.toString()).join("-<wbr>"));
}

function when(iso: string | undefined): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC` : "never";
}

export function renderFleetPage(s: Snapshot, opts: { refreshSeconds: number } & NextStepOptions) {
  const rows = fleetRows(s.fleet);
  const groups = columnGroups(s.fleet);
  const columns = groups.flatMap((g) => g.profiles);
  const problems = s.counts.expired + s.counts.late + s.counts.missing;
  const title = `${problems > 0 ? `(${problems}) ` : ""}hak fleet · ${s.cluster}`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="${opts.refreshSeconds}">
<title>${title}</title>
<style>${raw(CSS)}</style>
</head>
<body>
<header>
  <h1>hak fleet · ${s.cluster}</h1>
  <span class="meta">certificates Vault signed, per host and profile · as of ${when(s.lastSuccess)} · refreshes every ${opts.refreshSeconds}s</span>
</header>
<main>
  ${s.error ? html`<p class="banner" role="alert">Vault could not be read: ${s.error}${s.lastSuccess ? ` (showing ${when(s.lastSuccess)})` : ""}</p>` : ""}
  ${s.inventoryError ? html`<p class="banner" role="alert">The inventory file changed but cannot be used: ${s.inventoryError}</p>` : ""}
  ${summary(s)}
  ${problemsSection(s, opts)}
  <div class="wrap">
  <table>
    <thead>
      <tr class="ca"><th></th>${groups.map((g) => html`<th scope="colgroup" colspan="${g.profiles.length}">${CA_LABEL[g.ca]}</th>`)}</tr>
      <tr><th scope="col">host</th>${columns.map((p) => html`<th scope="col">${wrapHyphens(p)}</th>`)}</tr>
    </thead>
    <tbody>
      ${rows.map(
        (r) => html`<tr data-identity="${r.identity}" data-worst="${r.worst}">
        <th scope="row">${r.identity}<span class="role">${r.shared ? r.hosts.join(", ") : r.role}</span></th>
        ${columns.map((p) => cell(r.cells.get(p)))}
      </tr>`,
      )}
    </tbody>
  </table>
  </div>
  <div class="legend">${CERT_STATES.map((st) => html`<span><b class="s-${st}">${STATE_TEXT[st]}</b>${STATE_HELP[st]}</span>`)}</div>
  ${driftSection(s)}
  <footer>Rows worst first. A shared profile (same subject on every host of a role) shows on each holder's row when its certificate names the holder; certificates that do not (signed by an older agent) make one pool per role. JSON: <a href="api/fleet">/api/fleet</a> · metrics: <a href="metrics">/metrics</a></footer>
</main>
</body>
</html>`;
}
