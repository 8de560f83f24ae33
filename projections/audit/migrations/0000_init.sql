CREATE SCHEMA "natter_audit";
--> statement-breakpoint
CREATE TABLE "natter_audit"."checkpoint" (
	"projection" text PRIMARY KEY NOT NULL,
	"version" integer NOT NULL,
	"seq" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "natter_audit"."event_log" (
	"seq" bigint PRIMARY KEY NOT NULL,
	"time" timestamp with time zone NOT NULL,
	"type" text NOT NULL,
	"actor" text NOT NULL,
	"subject" text NOT NULL,
	"aggregate" text NOT NULL,
	"room_id" text,
	"command_id" text NOT NULL,
	"correlation_id" text NOT NULL,
	"causation_id" text NOT NULL,
	"payload" jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "natter_audit"."parked" (
	"seq" bigint PRIMARY KEY NOT NULL,
	"subject" text NOT NULL,
	"type" text NOT NULL,
	"status" text NOT NULL,
	"error" text NOT NULL,
	"attempts" integer NOT NULL,
	"parked_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "event_log_actor" ON "natter_audit"."event_log" USING btree ("actor","seq");--> statement-breakpoint
CREATE INDEX "event_log_room" ON "natter_audit"."event_log" USING btree ("room_id","seq");--> statement-breakpoint
CREATE INDEX "event_log_type" ON "natter_audit"."event_log" USING btree ("type","seq");--> statement-breakpoint
CREATE INDEX "event_log_subject" ON "natter_audit"."event_log" USING btree ("subject","seq");--> statement-breakpoint
CREATE INDEX "event_log_correlation" ON "natter_audit"."event_log" USING btree ("correlation_id");--> statement-breakpoint
CREATE INDEX "event_log_time" ON "natter_audit"."event_log" USING btree ("time");