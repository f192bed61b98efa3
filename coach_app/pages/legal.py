"""Our Terms of Service (/terms) and Privacy Policy (/privacy): short, plain,
and true of what the code does. The connect wizard's checkbox links here."""

from __future__ import annotations

import reflex as rx

from coach_app.components.layout import public_page


def _section(title: str, *paragraphs: str) -> rx.Component:
    return rx.vstack(
        rx.heading(title, size="4", as_="h2"),
        *[rx.text(p, size="3") for p in paragraphs],
        spacing="2",
    )


def _page(title: str, *sections: rx.Component) -> rx.Component:
    return rx.box(
        rx.vstack(
            rx.heading(title, size="7", as_="h1"),
            rx.text("Last updated: 30 November 2026", size="2"),
            *sections,
            rx.flex(
                rx.link("Terms of Service", href="/terms"),
                rx.link("Privacy Policy", href="/privacy"),
                rx.link("Log in", href="/login"),
                gap="1.5em",
                wrap="wrap",
            ),
            spacing="5",
        ),
        max_width="720px",
        margin_x="auto",
        padding=rx.breakpoints(initial="1.25em 1em", sm="2em 1.5em"),
    )


@public_page("/terms", "Terms of Service")
def terms_page() -> rx.Component:
    return _page(
        "Terms of Service",
        _section(
            "Who we are",
            "Coach App is run by the coach or organisation whose address you "
            "opened it at (\u201cwe\u201d). These terms cover coaches who hold an "
            "account and the people who book with them.",
        ),
        _section(
            "What Coach App does",
            "It shows a coach's open times on a public booking page, records "
            "the appointments booked there, emails both sides about them, and, "
            "when the coach connects a calendar, reads busy times from it and "
            "writes appointments into it.",
        ),
        _section(
            "Connecting a calendar",
            "When you connect a calendar you allow Coach App to read the "
            "calendars you tick and to create, change and delete the "
            "appointments it puts in the one calendar you choose to push to. "
            "It does not change any other event. You can disconnect at any "
            "time in My Settings \u2192 Integrations; the sign-in it kept is then "
            "deleted.",
            "Use an app-specific password where your provider offers one "
            "(iCloud requires it): it can be revoked on its own without "
            "changing your main password.",
        ),
        _section(
            "Your responsibilities",
            "Keep your password to yourself, give true details when you book, "
            "and do not use the booking page to send anything unlawful or to "
            "flood a coach with bookings.",
        ),
        _section(
            "Changes and cancellations",
            "Appointments are changed or cancelled in Coach App, by the coach "
            "or through the manage link in the invitee's emails, not in the "
            "external calendar. The coach's own cancellation policy applies.",
        ),
        _section(
            "No warranty",
            "We work to keep the service available and correct, but we cannot "
            "promise it never fails: calendar providers can be unreachable, and "
            "email can be delayed. Check your calendar for anything important. "
            "To the extent the law allows, we are not liable for losses caused "
            "by an outage or a missed sync.",
        ),
        _section(
            "Changes to these terms",
            "If these terms change, the date above changes with them; "
            "continuing to use Coach App after that means you accept the new "
            "version.",
        ),
    )


@public_page("/privacy", "Privacy Policy")
def privacy_page() -> rx.Component:
    return _page(
        "Privacy Policy",
        _section(
            "What we keep",
            "Coaches: name, email, time zone, booking link, working hours, "
            "appointment types, and a hash of the password (never the password "
            "itself).",
            "Invitees: the name, email address and note you enter when you "
            "book, the time zone you booked from, and your appointments.",
            "Connected calendars: the account name, the server address, the "
            "sign-in (an app-specific password or a token from your provider, "
            "encrypted before it is stored), and the start, end, title and "
            "busy/free status of events in the calendars the coach chose to "
            "pull, so busy times can be kept free.",
        ),
        _section(
            "What we use it for",
            "Only to run the booking page, the coach's calendar and the emails "
            "about appointments. We do not sell data, show ads, or use "
            "analytics or tracking scripts.",
        ),
        _section(
            "Who else sees it",
            "The coach sees the appointments booked with them. Appointment "
            "details are written into the coach's connected calendar, so that "
            "calendar's provider holds them too, under its own policy. Emails "
            "pass through the mail server this installation is set up with.",
        ),
        _section(
            "Cookies",
            "A coach who logs in gets one cookie that keeps them logged in; it "
            "holds a random token, and the server keeps only its hash. The "
            "booking page sets no cookie.",
        ),
        _section(
            "How long",
            "Account data stays until the account is deleted. Disconnecting a "
            "calendar deletes its sign-in and the events pulled from it at "
            "once. Appointments are kept so both sides have a record; ask the "
            "coach to delete yours.",
        ),
        _section(
            "Your rights",
            "You can ask the coach who runs this installation for a copy of the "
            "data about you, to correct it, or to delete it.",
        ),
    )
