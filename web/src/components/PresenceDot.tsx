import type { PresenceStatus } from "../../../domain/index.ts";

const LABEL: Record<PresenceStatus, string> = { online: "Online", away: "Away", offline: "Offline" };

/** A user's presence as a coloured dot, named for assistive technology. */
export function PresenceDot(props: { status: PresenceStatus }) {
  return (
    <span
      class="presence-dot"
      data-status={props.status}
      data-testid="presence-dot"
      role="img"
      aria-label={LABEL[props.status]}
      title={LABEL[props.status]}
    />
  );
}
