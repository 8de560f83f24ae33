CREATE SCHEMA "natter_timeline";
--> statement-breakpoint
CREATE TABLE "natter_timeline"."checkpoint" (
	"projection" text PRIMARY KEY NOT NULL,
	"version" integer NOT NULL,
	"seq" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "natter_timeline"."message_edits" (
	"room_id" text NOT NULL,
	"message_id" text NOT NULL,
	"seq" bigint NOT NULL,
	"body" text NOT NULL,
	"previous_body" text NOT NULL,
	"edited_by" text NOT NULL,
	"edited_at" timestamp with time zone NOT NULL,
	CONSTRAINT "message_edits_room_id_message_id_seq_pk" PRIMARY KEY("room_id","message_id","seq")
);
--> statement-breakpoint
CREATE TABLE "natter_timeline"."mentions" (
	"user_id" text NOT NULL,
	"room_id" text NOT NULL,
	"message_id" text NOT NULL,
	"seq" bigint NOT NULL,
	CONSTRAINT "mentions_user_id_room_id_message_id_pk" PRIMARY KEY("user_id","room_id","message_id")
);
--> statement-breakpoint
CREATE TABLE "natter_timeline"."messages" (
	"room_id" text NOT NULL,
	"message_id" text NOT NULL,
	"seq" bigint NOT NULL,
	"author_id" text NOT NULL,
	"body" text NOT NULL,
	"thread_root_id" text,
	"reply_count" integer DEFAULT 0 NOT NULL,
	"last_reply_seq" bigint,
	"last_reply_at" timestamp with time zone,
	"posted_at" timestamp with time zone NOT NULL,
	"edited_at" timestamp with time zone,
	"deleted" boolean DEFAULT false NOT NULL,
	"deleted_by" text,
	"updated_seq" bigint NOT NULL,
	CONSTRAINT "messages_room_id_message_id_pk" PRIMARY KEY("room_id","message_id")
);
--> statement-breakpoint
CREATE TABLE "natter_timeline"."parked" (
	"seq" bigint PRIMARY KEY NOT NULL,
	"subject" text NOT NULL,
	"type" text NOT NULL,
	"status" text NOT NULL,
	"error" text NOT NULL,
	"attempts" integer NOT NULL,
	"parked_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "natter_timeline"."reactions" (
	"room_id" text NOT NULL,
	"message_id" text NOT NULL,
	"emoji" text NOT NULL,
	"user_id" text NOT NULL,
	"seq" bigint NOT NULL,
	CONSTRAINT "reactions_room_id_message_id_emoji_user_id_pk" PRIMARY KEY("room_id","message_id","emoji","user_id")
);
--> statement-breakpoint
CREATE TABLE "natter_timeline"."thread_participants" (
	"room_id" text NOT NULL,
	"root_id" text NOT NULL,
	"user_id" text NOT NULL,
	"since_seq" bigint NOT NULL,
	CONSTRAINT "thread_participants_room_id_root_id_user_id_pk" PRIMARY KEY("room_id","root_id","user_id")
);
--> statement-breakpoint
CREATE TABLE "natter_timeline"."translations" (
	"room_id" text NOT NULL,
	"message_id" text NOT NULL,
	"language" text NOT NULL,
	"body" text NOT NULL,
	"seq" bigint NOT NULL,
	CONSTRAINT "translations_room_id_message_id_language_pk" PRIMARY KEY("room_id","message_id","language")
);
--> statement-breakpoint
CREATE INDEX "mentions_user_seq" ON "natter_timeline"."mentions" USING btree ("user_id","seq");--> statement-breakpoint
CREATE INDEX "messages_room_seq" ON "natter_timeline"."messages" USING btree ("room_id","seq");--> statement-breakpoint
CREATE INDEX "messages_thread" ON "natter_timeline"."messages" USING btree ("room_id","thread_root_id","seq");--> statement-breakpoint
CREATE INDEX "messages_room_updated" ON "natter_timeline"."messages" USING btree ("room_id","updated_seq");