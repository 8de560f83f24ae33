/**
 * The timeline's pure helpers: which message starts a day, which one the unread separator goes
 * before, which ones are grouped under the previous message's author line, and the labels shown.
 * No DOM, no clock of their own (`now` is passed in), so they are unit-tested as plain functions.
 */
import type { TimelineMessage } from "../stores/timeline.ts";

export type { TimelineMessage };

/** Consecutive messages of one author closer than this are grouped under one author line. */
export const GROUP_WINDOW_MS = 5 * 60_000;

/** The key the timeline renders and measures a message under: stable from send to confirmation. */
export function messageKey(m: TimelineMessage): string {
  return m.clientId ?? m.messageId;
}

/** Whether the message is the user's own send not yet confirmed (pending or failed). */
export function isUnconfirmed(m: TimelineMessage): boolean {
  return m.pending === true || m.failed === true;
}

/** The local calendar day of an ISO time, as `YYYY-MM-DD` (the day dividers' key). */
export function localDayKey(iso: string): string {
  const d = new Date(iso);
  const mm = String(d.getMonth() + 1).padStart(2, "0");
  const dd = String(d.getDate()).padStart(2, "0");
  return `${d.getFullYear()}-${mm}-${dd}`;
}

/** Whether a day divider goes above `m`: it is the first message, or the first of a new local day. */
export function startsDay(prev: TimelineMessage | undefined, m: TimelineMessage): boolean {
  return prev === undefined || localDayKey(prev.postedAt) !== localDayKey(m.postedAt);
}

/**
 * The index of the message the unread separator goes before: the first confirmed message from
 * someone else with `seq > lastReadSeq`; -1 when there is none. Binary search over the confirmed,
 * seq-ordered prefix, then a forward scan past the user's own messages.
 *
 * @example unreadIndex(messages, 41, "alice") // the first message after seq 41 not by alice
 */
export function unreadIndex(messages: readonly TimelineMessage[], lastReadSeq: number, me: string): number {
  let lo = 0;
  let hi = messages.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const m = messages[mid]!;
    // Unconfirmed sends sit at the end; they count as "after" any read marker.
    if (isUnconfirmed(m) || m.seq > lastReadSeq) hi = mid;
    else lo = mid + 1;
  }
  for (let i = lo; i < messages.length; i++) {
    const m = messages[i]!;
    if (isUnconfirmed(m)) return -1;
    if (m.authorId !== me) return i;
  }
  return -1;
}

/**
 * Whether `m` is shown under `prev`'s author line: same author, same day, less than
 * GROUP_WINDOW_MS apart, and no unread separator between them (`separatorBefore`).
 */
export function groupedWithPrevious(
  prev: TimelineMessage | undefined,
  m: TimelineMessage,
  separatorBefore = false,
): boolean {
  if (prev === undefined || separatorBefore || prev.authorId !== m.authorId) return false;
  if (startsDay(prev, m)) return false;
  const gap = Date.parse(m.postedAt) - Date.parse(prev.postedAt);
  return gap >= 0 && gap < GROUP_WINDOW_MS;
}

/** What goes with a message row: a day divider (its day key), the unread separator, grouping. */
export type RowDecor = { day: string | null; unread: boolean; grouped: boolean };

/** The decorations of row `index`, given where the unread separator is (from `unreadIndex`). */
export function rowDecor(messages: readonly TimelineMessage[], index: number, unreadAt: number): RowDecor {
  const m = messages[index]!;
  const prev = messages[index - 1];
  const unread = index === unreadAt;
  return {
    day: startsDay(prev, m) ? localDayKey(m.postedAt) : null,
    unread,
    grouped: groupedWithPrevious(prev, m, unread),
  };
}

/** Whether two rows' decorations are the same (so the row need not change). */
export function sameDecor(a: RowDecor, b: RowDecor): boolean {
  return a.day === b.day && a.unread === b.unread && a.grouped === b.grouped;
}

/**
 * How many messages from others arrived after `seenSeq` (the newest one the user has had on
 * screen): the count on "Jump to latest". Scans back from the end only as far as needed.
 */
export function newerThan(messages: readonly TimelineMessage[], seenSeq: number, me: string): number {
  let n = 0;
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (isUnconfirmed(m)) continue;
    if (m.seq <= seenSeq) break;
    if (m.authorId !== me) n++;
  }
  return n;
}

/** The newest confirmed message's seq, 0 when there is none. */
export function latestSeq(messages: readonly TimelineMessage[]): number {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (!isUnconfirmed(m)) return m.seq;
  }
  return 0;
}

/** Date formatters by locale and style: building one costs far more than using it, and a row uses three. */
const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(locale: string | undefined, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `${locale ?? ""}|${JSON.stringify(options)}`;
  let f = formatters.get(key);
  if (f === undefined) formatters.set(key, (f = new Intl.DateTimeFormat(locale, options)));
  return f;
}

/** A day divider's text: "Today", "Yesterday", or the date in full, e.g. "Wednesday, 25 November 2026". */
export function dayLabel(dayKey: string, now: Date = new Date(), locale?: string): string {
  const [y, mo, d] = dayKey.split("-").map(Number) as [number, number, number];
  const day = new Date(y, mo - 1, d);
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const days = Math.round((today.getTime() - day.getTime()) / 86_400_000);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  return formatter(locale, { weekday: "long", day: "numeric", month: "long", year: "numeric" }).format(day);
}

/** A message's time of day as shown beside it, e.g. "14:05" (the locale's short time). */
export function timeLabel(iso: string, locale?: string): string {
  return formatter(locale, { hour: "2-digit", minute: "2-digit" }).format(new Date(iso));
}

/** A message's full date and time, for its tooltip and accessible name. */
export function fullTimeLabel(iso: string, locale?: string): string {
  return formatter(locale, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
}

/** "1 reply", "3 replies". */
export function repliesLabel(n: number): string {
  return n === 1 ? "1 reply" : `${n} replies`;
}

/** The emoji offered by the reaction picker. */
export const PICKER_EMOJI: readonly string[] = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "👀"];
