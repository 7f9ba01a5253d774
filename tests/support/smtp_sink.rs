//! A real SMTP server on loopback for the mail tests: the `mailin` crate's
//! SMTP session (command parsing, state machine, dot-unstuffing, replies)
//! behind a thread per connection, and `mail-parser` (which no one here
//! wrote either) to read the messages. Shared by the api and browser test
//! binaries via `#[path]`. (`mailin-embedded`, the same project's server,
//! cannot be built without TLS, and its rustls would pull in aws-lc.)

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use mail_parser::MessageParser;
use mailin::response::{self, Response};
use mailin::{Action, Handler, SessionBuilder};

/// One message as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Received {
    /// The first `http(s)://…` link of the plain-text body.
    pub fn link(&self) -> String {
        let start = self.text.find("http").expect("a link in the mail");
        self.text[start..]
            .split(|c: char| c.is_whitespace() || c == '>' || c == '"')
            .next()
            .expect("a link")
            .to_owned()
    }

    /// The `token` parameter of the first link.
    pub fn token(&self) -> String {
        let link = self.link();
        let url = url::Url::parse(&link).expect("the link is a URL");
        url.query_pairs()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no token in {link}"))
    }
}

#[derive(Default)]
struct Mailbox {
    mails: Mutex<Vec<Received>>,
    arrived: Condvar,
}

#[derive(Clone)]
struct Collect {
    mailbox: Arc<Mailbox>,
    /// Recipients refused for good (550), as a real server refuses an
    /// address it has no mailbox for.
    refused: Arc<Vec<String>>,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Collect {
    fn rcpt(&mut self, to: &str) -> Response {
        match self.refused.iter().any(|r| to.eq_ignore_ascii_case(r)) {
            true => response::NO_MAILBOX,
            false => response::OK,
        }
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.from = from.to_owned();
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let msg = MessageParser::default()
            .parse(&self.data[..])
            .expect("the message parses");
        let received = Received {
            from: self.from.clone(),
            to: self.to.clone(),
            subject: msg.subject().unwrap_or_default().to_owned(),
            text: msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
            html: msg.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
        };
        self.mailbox.mails.lock().unwrap().push(received);
        self.mailbox.arrived.notify_all();
        response::OK
    }
}

/// An SMTP server on a loopback port, collecting what it receives. It runs
/// until the test process ends.
pub struct SmtpSink {
    pub port: u16,
    mailbox: Arc<Mailbox>,
}

impl SmtpSink {
    pub fn start() -> Self {
        Self::start_refusing(&[])
    }

    /// A server that refuses mail to `refused` with 550 (permanently).
    pub fn start_refusing(refused: &[&str]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        Self::serve(listener, refused)
    }

    /// Starts on a port chosen before (for "the server comes back" tests).
    pub fn start_on(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("the port is free again");
        Self::serve(listener, &[])
    }

    fn serve(listener: TcpListener, refused: &[&str]) -> Self {
        let port = listener.local_addr().expect("addr").port();
        let mailbox = Arc::new(Mailbox::default());
        let handler = Collect {
            mailbox: mailbox.clone(),
            refused: Arc::new(refused.iter().map(|r| r.to_string()).collect()),
            from: String::new(),
            to: Vec::new(),
            data: Vec::new(),
        };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let handler = handler.clone();
                std::thread::spawn(move || converse(stream, handler));
            }
        });
        Self { port, mailbox }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// How many messages arrived so far.
    pub fn count(&self) -> usize {
        self.mailbox.mails.lock().unwrap().len()
    }

    /// Everything received so far.
    pub fn all(&self) -> Vec<Received> {
        self.mailbox.mails.lock().unwrap().clone()
    }

    /// Waits (up to `secs`) until `n` messages to `to` have arrived; returns
    /// them all.
    pub fn wait_for_n(&self, to: &str, n: usize, secs: u64) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut mails = self.mailbox.mails.lock().unwrap();
        loop {
            let found: Vec<Received> = mails
                .iter()
                .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to)))
                .cloned()
                .collect();
            if found.len() >= n {
                return found;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{n} mails to {to} did not arrive; got {mails:#?}"
            );
            mails = self.mailbox.arrived.wait_timeout(mails, left).unwrap().0;
        }
    }

    /// The first message to `to`, waiting up to ten seconds for it.
    pub async fn next_to(&self, to: &str) -> Received {
        self.next_n_to(to, 1).await.remove(0)
    }

    /// Async form of [`wait_for_n`](Self::wait_for_n) (ten seconds).
    pub async fn next_n_to(&self, to: &str, n: usize) -> Vec<Received> {
        let mailbox = self.mailbox.clone();
        let port = self.port;
        let to = to.to_owned();
        tokio::task::spawn_blocking(move || SmtpSink { port, mailbox }.wait_for_n(&to, n, 10))
            .await
            .expect("wait task")
    }
}

/// One SMTP connection, until QUIT or the client goes.
fn converse(stream: TcpStream, handler: Collect) {
    let peer = stream.peer_addr().map(|a| a.ip()).expect("peer");
    // Each reply goes out whole at once: without this, a reply written in
    // pieces waits on the client's delayed ACK (Nagle), 40 ms a command.
    let _ = stream.set_nodelay(true);
    let mut out = std::io::BufWriter::new(stream.try_clone().expect("clone"));
    let mut input = BufReader::new(stream);
    let mut session = SessionBuilder::new("sink.test").build(peer, handler);
    let reply = |out: &mut std::io::BufWriter<TcpStream>, res: &Response| {
        res.write_to(out).and_then(|_| out.flush()).is_ok()
    };
    if !reply(&mut out, &session.greeting()) {
        return;
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let res = session.process(&line);
        match res.action {
            Action::NoReply => {}
            Action::Reply | Action::UpgradeTls => {
                if !reply(&mut out, &res) {
                    return;
                }
            }
            Action::Close => {
                reply(&mut out, &res);
                return;
            }
        }
    }
}
