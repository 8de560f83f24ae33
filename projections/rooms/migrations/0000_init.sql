CREATE SCHEMA "natter_rooms";
--> statement-breakpoint
CREATE TABLE "natter_rooms"."room_bans" (
	"room_id" text NOT NULL,
	"user_id" text NOT NULL,
	"banned_by" text NOT NULL,
	"reason" text,
	"seq" bigint NOT NULL,
	CONSTRAINT "room_bans_room_id_user_id_pk" PRIMARY KEY("room_id","user_id")
);
--> statement-breakpoint
CREATE TABLE "natter_rooms"."checkpoint" (
	"projection" text PRIMARY KEY NOT NULL,
	"version" integer NOT NULL,
	"seq" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "natter_rooms"."room_invites" (
	"room_id" text NOT NULL,
	"user_id" text NOT NULL,
	"invited_by" text NOT NULL,
	"seq" bigint NOT NULL,
	CONSTRAINT "room_invites_room_id_user_id_pk" PRIMARY KEY("room_id","user_id")
);
--> statement-breakpoint
CREATE TABLE "natter_rooms"."room_members" (
	"room_id" text NOT NULL,
	"user_id" text NOT NULL,
	"role" text NOT NULL,
	"joined_seq" bigint NOT NULL,
	"joined_at" timestamp with time zone NOT NULL,
	CONSTRAINT "room_members_room_id_user_id_pk" PRIMARY KEY("room_id","user_id")
);
--> statement-breakpoint
CREATE TABLE "natter_rooms"."parked" (
	"seq" bigint PRIMARY KEY NOT NULL,
	"subject" text NOT NULL,
	"type" text NOT NULL,
	"status" text NOT NULL,
	"error" text NOT NULL,
	"attempts" integer NOT NULL,
	"parked_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "natter_rooms"."rooms" (
	"room_id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"kind" text NOT NULL,
	"topic" text NOT NULL,
	"archived" boolean DEFAULT false NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"created_seq" bigint NOT NULL,
	"updated_seq" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "natter_rooms"."users" (
	"user_id" text PRIMARY KEY NOT NULL,
	"display_name" text,
	"language" text,
	"updated_seq" bigint NOT NULL
);
