"""Branding is configuration: PRODUCT_NAME, BRAND_LOGO_URL, BRAND_PRIMARY_COLOR and
BRAND_ACCENT_COLOR change the pages (through /brand.css, the CSP forbidding inline styles),
are validated at start, and a brand still passes axe-core (colour contrast included)."""

from __future__ import annotations

import pytest

from identity import config, mail
from tests.browser.customer_pages import check_page, shoot, start_demo


def settings(tmp_path, **overrides) -> dict:
    """The customer side alone in development mode, on SQLite: no stack, no database server."""
    return {
        "TESTING": True,
        "APP_ENV": "development",
        "SECRET_KEY": "branding-test-secret-key",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'identity.sqlite3'}",
        "BROKER_ENV_URL": "http://127.0.0.1:9",  # discard port: nothing is called
        **overrides,
    }


BRAND = {
    "PRODUCT_NAME": "Globex Sign-in",
    "BRAND_LOGO_URL": "/static/brand-example-logo.svg",
    "BRAND_PRIMARY_COLOR": "#0b6e4f",
    "BRAND_ACCENT_COLOR": "#f2a900",
}


@pytest.mark.integration
def test_a_custom_brand_changes_name_logo_and_colours(page, fresh_stack):
    stack = fresh_stack(**BRAND)
    page, console = page
    start_demo(page, stack)

    assert page.title() == "Sign in · Globex Sign-in"
    home = page.get_by_role("banner").get_by_role("link", name="Globex Sign-in")
    assert home.is_visible()
    logo = home.locator("img.brand-logo")
    assert logo.get_attribute("src") == "/static/brand-example-logo.svg"
    assert logo.get_attribute("alt") == ""  # the name next to it is the link's name
    assert logo.evaluate("img => img.complete && img.naturalWidth > 0")
    assert home.locator(".brand-mark").count() == 0
    assert page.get_by_role("contentinfo").inner_text() == "Globex Sign-in · secure sign-in"

    def computed(locator, prop: str) -> str:
        return locator.evaluate(f"el => getComputedStyle(el).{prop}")

    sign_in = page.get_by_role("button", name="Sign in", exact=True)
    assert computed(sign_in, "backgroundColor") == "rgb(11, 110, 79)"
    email_me = page.get_by_role("button", name="Email me a sign-in link")
    assert computed(email_me, "color") == "rgb(11, 110, 79)"
    assert computed(page.locator(".card").first, "borderTopColor") == "rgb(242, 169, 0)"
    check_page(page, console)
    shoot(page, "branded-login")

    # The generated stylesheet: CSS, cacheable, revalidated by its ETag.
    css = page.request.get(f"{stack.idp.url}/brand.css")
    assert css.status == 200 and css.headers["content-type"].startswith("text/css")
    assert "public" in css.headers["cache-control"] and "max-age" in css.headers["cache-control"]
    assert "--brand: #0b6e4f;" in css.text() and "--accent: #f2a900;" in css.text()
    again = page.request.get(
        f"{stack.idp.url}/brand.css", headers={"If-None-Match": css.headers["etag"]}
    )
    assert again.status == 304
    # Pages stay uncacheable.
    assert "no-store" in page.request.get(f"{stack.idp.url}/").headers["cache-control"]


def test_the_default_brand_is_served_too(tmp_path):
    from app import create_app

    app = create_app(settings(tmp_path))
    try:
        client = app.test_client()
        home = client.get("/").get_data(as_text=True)
        assert 'class="brand-mark"' in home and "brand-logo" not in home
        link = home.index("/brand.css?v=")
        assert link < home.index("/static/style.css")  # before the stylesheet using it
        css = client.get("/brand.css").get_data(as_text=True)
        assert "--brand: #3b4cca;" in css and "--accent: #7a5cff;" in css
    finally:
        mail.shutdown(app)


def test_an_https_logo_is_admitted_by_the_csp(tmp_path):
    from app import create_app

    app = create_app(settings(tmp_path, BRAND_LOGO_URL="https://cdn.example.com/brand/logo.svg"))
    try:
        response = app.test_client().get("/")
        policy = response.headers["Content-Security-Policy"]
        assert "img-src 'self' data: https://cdn.example.com;" in policy
        assert 'src="https://cdn.example.com/brand/logo.svg"' in response.get_data(as_text=True)
    finally:
        mail.shutdown(app)


@pytest.mark.parametrize(
    ("key", "value", "complaint"),
    [
        ("BRAND_PRIMARY_COLOR", "blue", "not a hex colour"),
        ("BRAND_PRIMARY_COLOR", "#12345", "not a hex colour"),
        ("BRAND_PRIMARY_COLOR", "#3b4cca; background: url(x)", "not a hex colour"),
        ("BRAND_PRIMARY_COLOR", "#ffbf47", "contrast of 1.6"),  # too light for white text
        ("BRAND_PRIMARY_COLOR", "#7a7a7a", "choose a darker colour"),
        ("BRAND_ACCENT_COLOR", "orange", "not a hex colour"),
        ("BRAND_LOGO_URL", "http://cdn.example.com/logo.svg", "https URL or a path under"),
        ("BRAND_LOGO_URL", "javascript:alert(1)", "https URL or a path under"),
        ("BRAND_LOGO_URL", "//cdn.example.com/logo.svg", "https URL or a path under"),
        ("BRAND_LOGO_URL", "/static/../app.py", "https URL or a path under"),
        ("BRAND_LOGO_URL", "/uploads/logo.svg", "https URL or a path under"),
        ("BRAND_LOGO_URL", "https://user:pw@cdn.example.com/l.svg", "https URL or a path under"),
        ("BRAND_LOGO_URL", 'https://cdn.example.com/a".svg', "https URL or a path under"),
    ],
)
def test_brand_settings_are_validated_at_start(tmp_path, key, value, complaint):
    with pytest.raises(config.ConfigError) as refused:
        config.check_config(config.from_mapping(settings(tmp_path, **{key: value})))
    assert key in str(refused.value) and complaint in str(refused.value)


@pytest.mark.parametrize(
    "brand",
    [
        {"BRAND_PRIMARY_COLOR": "#0b6e4f", "BRAND_ACCENT_COLOR": "#FFF"},  # accent: decorative
        {"BRAND_PRIMARY_COLOR": "#000"},
        {"BRAND_LOGO_URL": "https://cdn.example.com/brand/logo.svg"},
        {"BRAND_LOGO_URL": "/static/brand/logo-v2.png"},
    ],
)
def test_usable_brand_settings_are_accepted(tmp_path, brand):
    config.check_config(config.from_mapping(settings(tmp_path, **brand)))


def test_contrast_ratio_matches_wcag():
    black, white = (0, 0, 0), (255, 255, 255)
    assert config.contrast_ratio(black, white) == pytest.approx(21)
    assert config.contrast_ratio(white, white) == pytest.approx(1)
    # The default primary carries white text comfortably.
    assert config.contrast_ratio(config.parse_hex_color("#3b4cca"), white) > 4.5
