//! Commit signals: how log readers in the same process learn that the log may have grown, so
//! they read again at once instead of waiting for their next poll.
//!
//! A backend that offers one ([`Backend::commit_signal`](crate::Backend::commit_signal)) raises
//! it after each commit that wrote events has returned. A signal carries no data and promises
//! nothing about what is readable: on PostgreSQL a commit may still sit behind a running
//! transaction. A reader woken by it reads the log, and keeps polling as the safety net.

use tokio::sync::watch;

/// A wake-up raised after commits; cheap to raise, shared by everyone who waits on it.
///
/// Raising it with nobody waiting costs one uncontended lock; many raises between two reads of a
/// waiter coalesce into one wake-up.
#[derive(Debug)]
pub struct CommitSignal {
    sender: watch::Sender<u64>,
}

impl CommitSignal {
    /// A signal nobody has raised yet.
    pub fn new() -> CommitSignal {
        CommitSignal {
            sender: watch::Sender::new(0),
        }
    }

    /// Wakes every waiter (backends call it after a commit; a listener for commits of other
    /// processes calls it when it hears of one).
    pub fn raise(&self) {
        self.sender
            .send_modify(|raised| *raised = raised.wrapping_add(1));
    }

    /// A new waiter: its first [`CommitWatch::changed`] returns after the next raise.
    pub fn watch(&self) -> CommitWatch {
        CommitWatch {
            receiver: self.sender.subscribe(),
        }
    }

    /// How many times the signal was raised (wrapping).
    pub fn raised(&self) -> u64 {
        *self.sender.borrow()
    }
}

impl Default for CommitSignal {
    fn default() -> Self {
        CommitSignal::new()
    }
}

/// One waiter on a [`CommitSignal`].
#[derive(Debug, Clone)]
pub struct CommitWatch {
    receiver: watch::Receiver<u64>,
}

impl CommitWatch {
    /// Waits until the signal is raised after this waiter last returned from here (or was
    /// made). Returns at once when that already happened. Never returns if the signal is gone,
    /// so callers always race it against a poll timer.
    pub async fn changed(&mut self) {
        if self.receiver.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "current_thread")]
    async fn raises_coalesce_and_wake_each_waiter() {
        let signal = CommitSignal::new();
        let mut a = signal.watch();
        let mut b = signal.watch();
        let quiet = tokio::time::timeout(Duration::from_millis(20), a.changed()).await;
        assert!(quiet.is_err(), "no raise yet");
        signal.raise();
        signal.raise();
        tokio::time::timeout(Duration::from_secs(1), a.changed())
            .await
            .expect("woken");
        tokio::time::timeout(Duration::from_secs(1), b.changed())
            .await
            .expect("woken");
        let again = tokio::time::timeout(Duration::from_millis(20), a.changed()).await;
        assert!(again.is_err(), "two raises are one wake-up");
        assert_eq!(signal.raised(), 2);
    }
}
