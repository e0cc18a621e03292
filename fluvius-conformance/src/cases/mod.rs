//! The conformance cases, one module per topic. Each case is a
//! `pub async fn(Arc<dyn Backend>)` that drives the [test domain](crate::domain) through the
//! public `Domain` API and panics on the first broken promise.
//!
//! Every case expects a fresh, empty store: it reads the global log and asserts exact counts.
//! [`__with_cases!`](crate::__with_cases) is the one list of cases: [`CASES`](crate::CASES) and
//! [`conformance_tests!`](crate::conformance_tests) are both generated from it, so a case added
//! here and to that list runs everywhere.

pub mod audit;
pub mod command_errors;
pub mod concurrency;
pub mod deletion;
pub mod envelope;
pub mod events;
mod fixtures;
pub mod idempotency;
pub mod import;
pub mod inline;
pub mod isolation;
pub mod limits;
pub mod log;
pub mod outbox;
pub mod policies;
pub mod query_filters;
pub mod query_pages;
pub mod query_values;
pub mod read_errors;
pub mod replay;
pub mod root_errors;
pub mod tenancy;
pub mod tenant_property;
pub mod time_travel;
pub mod unit_concurrency;
pub mod units;
pub mod upcasting;
pub mod upgrade;

/// Calls `$crate::$callback!` with the arguments given and then the list of every case, grouped
/// by module: `module { case, case, .. } module { .. }`.
#[doc(hidden)]
#[macro_export]
macro_rules! __with_cases {
    ($callback:ident ! ($($args:tt)*)) => {
        $crate::$callback! {
            ($($args)*)
            envelope {
                envelope_fields,
            }
            audit {
                every_attempt_is_recorded,
                reports_filter_and_page,
                units_are_recorded_whole,
                exports_json_lines_and_csv,
                concurrent_attempts_recorded_once,
            }
            upcasting {
                old_events_read_through_upcasters,
                readers_of_events_see_current_shapes,
                unreadable_events_are_named,
            }
            inline {
                inline_rows_fold_their_own_stream_in_the_commit,
                inline_projection_added_later_catches_up,
            }
            outbox {
                messages_commit_with_their_events,
                claims_hold_each_key_in_order,
                concurrent_commands_keep_key_order,
            }
            log {
                log_in_commit_order,
                log_pages_under_concurrent_writers,
                log_filters,
                response_cursor_read_your_writes,
                cursor_checkpoint_round_trip,
                record_bookkeeping,
            }
            command_errors {
                validation_errors,
                rule_broken,
                routing_errors,
            }
            root_errors {
                create_existing_root,
                create_reads_nothing_first,
                act_on_missing_root,
                expect_version_mismatch,
            }
            read_errors {
                wrong_state_type,
                invalid_queries,
                time_travel_errors,
                missing_tenant,
            }
            concurrency {
                concurrent_deposits_one_domain,
                two_domains_race,
                stale_cache_retries,
                expect_version_across_domains,
            }
            idempotency {
                repeat_returns_first_response,
                same_id_other_command,
                id_scoped_by_tenant,
                generated_id_repeat,
                concurrent_duplicates,
                noop_with_id,
                purge_idempotency,
                id_scoped_by_namespace,
                typed_and_json_fingerprint_alike,
            }
            isolation {
                cancelled_caller_changes_no_other_answer,
                panicking_action_fails_only_itself,
                refusals_wait_for_their_commit,
                hot_stream_across_domains,
            }
            import {
                bulk_import,
                import_is_all_or_nothing,
                multi_stream_commit_is_atomic,
            }
            replay {
                replay_equals_stored_state,
                cold_domain_reads_same,
            }
            time_travel {
                fetch_at_each_version,
                fetch_at_time,
                recorded_at_never_decreases,
                records_carry_their_users,
            }
            query_filters {
                filter_operators,
                filter_negation,
                filter_composition,
                filter_shorthands,
            }
            query_values {
                filter_values,
                find_as_json,
            }
            query_pages {
                sort_orders,
                pagination,
                page_numbers,
            }
            deletion {
                soft_delete,
            }
            events {
                zero_events,
                many_events,
                typed_and_json_agree,
            }
            tenancy {
                tenant_walls,
            }
            tenant_property {
                tenants_never_see_each_other,
            }
            units {
                transfer_is_all_or_nothing,
                every_refusal_writes_nothing,
                same_stream_chains,
                creates_in_a_unit,
                unit_replay,
                unit_limits,
                unit_tenancy,
            }
            unit_concurrency {
                stale_stream_in_unit,
                units_race_single_commands,
                units_across_domains,
                cancelled_unit_changes_no_other_answer,
                busy_stream_lets_a_unit_in,
                unit_given_up_while_waiting,
            }
            policies {
                commands_obey_policies,
                reads_hide_what_policies_hide,
                find_sees_only_visible_roots,
            }
            upgrade {
                added_action_trusts_stored_states,
                changed_state_version_refolds_once,
                refresh_states_makes_find_exact,
                refresh_states_pages_across_tenants,
                write_back_keeps_concurrent_writer,
            }
            limits {
                json_depth,
                state_depth,
                non_finite_numbers,
                nul_characters,
                identifier_length,
                filter_limits,
                version_and_time_limits,
                import_limits,
            }
        }
    };
}
