ALTER TABLE "natter_rooms"."users" ADD COLUMN "chosen_name" text;--> statement-breakpoint
ALTER TABLE "natter_rooms"."users" ADD COLUMN "identity_name" text;--> statement-breakpoint
-- Before identity names, every display name was one a user set.
UPDATE "natter_rooms"."users" SET "chosen_name" = "display_name";