from flask import render_template

from app.intake import bp


@bp.get("/")
def home() -> str:
    return render_template("intake/home.html")
