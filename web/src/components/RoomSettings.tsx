import { For, Show, createMemo, createResource, createSignal, createUniqueId } from "solid-js";
import type { RoomRole } from "../../../domain/index.ts";
import { useChat } from "../stores/chat.ts";
import type { Member } from "../stores/rooms.ts";
import { createAction, errorText, FormError } from "./async.tsx";
import { Dialog } from "./Dialog.tsx";
import { PresenceDot } from "./PresenceDot.tsx";
import { UserPicker } from "./UserPicker.tsx";

const RANK: Record<RoomRole, number> = { owner: 3, moderator: 2, member: 1 };

/**
 * The bans in force, with Unban, for those who may lift them. Loaded when shown and again after
 * each ban or unban made here (`minSeq`: the list includes the change); while it reloads the
 * previous list stays.
 */
function BanList(props: {
  roomId: string;
  minSeq: number;
  busy: boolean;
  unban: (userId: string, name: string) => void;
  headingRef: (el: HTMLHeadingElement) => void;
}) {
  const chat = useChat();
  const headingId = createUniqueId();
  const [bans] = createResource(
    () => ({ minSeq: props.minSeq }),
    (q) => chat.server.bans(props.roomId, q.minSeq > 0 ? q.minSeq : undefined),
  );
  const list = () => (bans.error === undefined ? bans.latest?.bans : undefined);
  const nameOf = (userId: string, displayName: string | null) => displayName ?? chat.users.nameOf(userId);
  return (
    <section aria-labelledby={headingId} data-testid="ban-list">
      <h3 id={headingId} ref={props.headingRef} tabIndex={-1}>
        Banned{list() === undefined ? "" : ` (${list()!.length})`}
      </h3>
      <Show
        when={bans.error === undefined}
        fallback={<p role="alert">The bans could not be loaded: {errorText(bans.error)}</p>}
      >
        <Show when={list()} fallback={<p class="muted">Loading…</p>}>
          {(items) => (
            <Show
              when={items().length > 0}
              fallback={
                <p class="muted" data-testid="no-bans">
                  Nobody is banned.
                </p>
              }
            >
              <ul class="member-list">
                <For each={items()}>
                  {(b) => (
                    <li class="member" data-testid="banned-user" data-user-id={b.userId}>
                      <span class="member-name">{nameOf(b.userId, b.displayName)}</span>
                      <span class="role-label">
                        by {chat.users.nameOf(b.bannedBy)}
                        {b.reason !== null && b.reason !== "" ? `: ${b.reason}` : ""}
                      </span>
                      <button
                        type="button"
                        class="small"
                        data-testid="member-unban"
                        aria-label={`Unban ${nameOf(b.userId, b.displayName)}`}
                        disabled={props.busy}
                        onClick={() => props.unban(b.userId, nameOf(b.userId, b.displayName))}
                      >
                        Unban
                      </button>
                    </li>
                  )}
                </For>
              </ul>
            </Show>
          )}
        </Show>
      </Show>
    </section>
  );
}

/**
 * A room's settings: name and topic (moderators and owners), members with invite, remove, ban and
 * roles (ranked below the user; roles for owners), the bans with unban (moderators and owners),
 * archive (owners), and leave (everyone but in a DM).
 */
export function RoomSettings(props: { roomId: string; onClose: () => void }) {
  const chat = useChat();
  const detail = () => chat.rooms.state.details[props.roomId];
  const myRole = () => chat.rooms.roleIn(props.roomId);
  const kind = () => detail()?.kind;
  const archived = () => detail()?.archived ?? false;
  const canModerate = () => chat.canModerate(props.roomId) && !archived() && kind() !== "dm";
  const canOwn = () => chat.canOwn(props.roomId) && !archived() && kind() !== "dm";
  const [name, setName] = createSignal(detail()?.name ?? "");
  const [topic, setTopic] = createSignal(detail()?.topic ?? "");
  const action = createAction();
  const busy = action.busy;
  const [status, setStatus] = createSignal<string | null>(null);
  const [confirmArchive, setConfirmArchive] = createSignal(false);
  /** The sequence of the last ban or unban made here: the ban list reads at least up to it. */
  const [bansAt, setBansAt] = createSignal(0);

  const act = async (what: string, f: () => Promise<unknown>): Promise<boolean> => {
    setStatus(null);
    const done = (await action.run(f)) !== undefined;
    if (done) setStatus(what);
    return done;
  };
  let bansHeading: HTMLHeadingElement | undefined;
  let membersHeading!: HTMLHeadingElement;
  // A ban or an unban takes its button away: focus goes to the list the person is now in (or
  // was taken from), which reloads up to the change.
  const banAction = (what: string, f: () => Promise<{ seq: number }>): void =>
    void act(what, async () => setBansAt((await f()).seq)).then((done) => done && bansHeading?.focus());
  /** Whether the user may act on `m` (rank above theirs, or admin; never on themselves). */
  const outranks = (m: Member): boolean => {
    if (m.userId === chat.me) return false;
    if (chat.isAdmin) return true;
    const mine = myRole();
    return mine !== null && RANK[mine] > RANK[m.role];
  };
  const members = createMemo(() => detail()?.members ?? []);

  return (
    <Dialog title={`Settings: ${chat.roomName(props.roomId)}`} onClose={props.onClose} testId="room-settings" wide>
      <Show when={detail()} fallback={<p class="muted">Loading…</p>}>
        <Show when={canModerate()}>
          <form
            class="form inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              if (name().trim() !== "") void act("Renamed.", () => chat.rename(props.roomId, name().trim()));
            }}
          >
            <label class="field">
              <span>Name</span>
              <input
                data-testid="settings-name-input"
                maxLength={80}
                value={name()}
                onInput={(e) => setName(e.currentTarget.value)}
              />
            </label>
            <button type="submit" data-testid="settings-rename" disabled={busy()}>
              Rename
            </button>
          </form>
          <form
            class="form inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              void act("Topic saved.", () => chat.setTopic(props.roomId, topic().trim()));
            }}
          >
            <label class="field">
              <span>Topic</span>
              <input
                data-testid="settings-topic-input"
                maxLength={500}
                value={topic()}
                onInput={(e) => setTopic(e.currentTarget.value)}
              />
            </label>
            <button type="submit" data-testid="settings-topic" disabled={busy()}>
              Save topic
            </button>
          </form>
        </Show>
        <Show when={status()}>
          {(text) => (
            <p class="form-ok" role="status">
              {text()}
            </p>
          )}
        </Show>
        <FormError error={action.error()} />

        <h3 ref={membersHeading} tabIndex={-1}>
          Members ({members().length})
        </h3>
        <ul class="member-list" data-testid="member-list">
          <For each={members()}>
            {(m) => (
              <li class="member" data-testid="member" data-user-id={m.userId}>
                <PresenceDot status={chat.presence.of(m.userId)} />
                <span class="member-name">
                  {chat.users.nameOf(m.userId)}
                  {m.userId === chat.me ? " (you)" : ""}
                </span>
                <Show when={canOwn() && m.userId !== chat.me} fallback={<span class="role-label">{m.role}</span>}>
                  <label class="sr-only" for={`role-${m.userId}`}>
                    Role of {chat.users.nameOf(m.userId)}
                  </label>
                  <select
                    id={`role-${m.userId}`}
                    data-testid="member-role"
                    value={m.role}
                    disabled={busy()}
                    onChange={(e) =>
                      void act("Role changed.", () =>
                        chat.setRole(props.roomId, m.userId, e.currentTarget.value as RoomRole),
                      )
                    }
                  >
                    <option value="member">member</option>
                    <option value="moderator">moderator</option>
                    <option value="owner">owner</option>
                  </select>
                </Show>
                <Show when={canModerate() && outranks(m)}>
                  <button
                    type="button"
                    class="small"
                    data-testid="member-remove"
                    aria-label={`Remove ${chat.users.nameOf(m.userId)}`}
                    disabled={busy()}
                    onClick={() =>
                      void act(`Removed ${chat.users.nameOf(m.userId)}.`, () =>
                        chat.remove(props.roomId, m.userId),
                      ).then((done) => done && membersHeading.focus())
                    }
                  >
                    Remove
                  </button>
                  <button
                    type="button"
                    class="small danger-outline"
                    data-testid="member-ban"
                    aria-label={`Ban ${chat.users.nameOf(m.userId)}`}
                    disabled={busy()}
                    onClick={() =>
                      banAction(`Banned ${chat.users.nameOf(m.userId)}.`, () => chat.ban(props.roomId, m.userId))
                    }
                  >
                    Ban
                  </button>
                </Show>
              </li>
            )}
          </For>
        </ul>

        <Show when={canModerate()}>
          <BanList
            roomId={props.roomId}
            minSeq={bansAt()}
            busy={busy()}
            headingRef={(el) => (bansHeading = el)}
            unban={(userId, who) => banAction(`Unbanned ${who}.`, () => chat.unban(props.roomId, userId))}
          />
        </Show>

        <Show when={kind() !== "dm" && !archived() && myRole() !== null && chat.hasRealmRole}>
          <h3>Invite</h3>
          <UserPicker
            label="Invite someone"
            testId="invite-picker"
            actionLabel="Invite"
            exclude={members().map((m) => m.userId)}
            onPick={(id) => void act(`Invited ${chat.users.nameOf(id)}.`, () => chat.invite(props.roomId, id))}
          />
        </Show>

        <div class="settings-footer">
          <Show when={canOwn()}>
            <Show
              when={confirmArchive()}
              fallback={
                <button
                  type="button"
                  class="danger-outline"
                  data-testid="settings-archive"
                  onClick={() => setConfirmArchive(true)}
                >
                  Archive room
                </button>
              }
            >
              <span>Archive for good? Nobody can post afterwards.</span>
              <button
                type="button"
                class="danger"
                data-testid="settings-archive-confirm"
                disabled={busy()}
                onClick={() => void act("Archived.", () => chat.archive(props.roomId))}
              >
                Archive
              </button>
              <button type="button" onClick={() => setConfirmArchive(false)}>
                Cancel
              </button>
            </Show>
          </Show>
          <Show when={kind() !== "dm" && myRole() !== null}>
            <button
              type="button"
              class="danger-outline"
              data-testid="settings-leave"
              disabled={busy()}
              onClick={() =>
                void chat.leave(props.roomId).then(
                  () => {
                    props.onClose();
                    chat.router.go({ view: "home" });
                  },
                  () => undefined,
                )
              }
            >
              Leave room
            </button>
          </Show>
        </div>
      </Show>
    </Dialog>
  );
}
